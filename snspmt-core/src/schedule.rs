//! When scheduled work is due: reading a customer's `scheduled_datetime` and checking it is
//! inside the allowed window (§9). Pure: `now` and the time-zone offset are inputs.
//!
//! # Example
//!
//! ```
//! use snspmt_core::schedule;
//! use snspmt_core::validate::Invalid;
//!
//! # fn main() -> Result<(), Invalid> {
//! // 10:00 in Seoul (540 minutes east of UTC) is 01:00 UTC, in milliseconds since the epoch.
//! let at = schedule::parse_datetime("2026-11-30 10:00", 540)?;
//! assert_eq!(at, snspmt_core::Millis(1_796_000_400_000));
//! assert_eq!(schedule::parse_datetime("2026-11-30T01:00:00Z", 0)?, at);
//! // 5 minutes to 7 days ahead of `now`.
//! let now = at.minus_ms(60 * 60 * 1000);
//! assert_eq!(schedule::check_window(at, now)?, at);
//! assert_eq!(schedule::check_window(at, at.minus_ms(60_000)).unwrap_err().code, "invalid_schedule");
//! assert!(schedule::parse_datetime("30/11/2026", 540).is_err());
//! # Ok(())
//! # }
//! ```

use crate::validate::Invalid;

pub use crate::time::Millis;

/// The earliest a scheduled order may be due: 5 minutes ahead.
pub const MIN_AHEAD_MS: i64 = 5 * 60 * 1000;
/// The latest: 7 days ahead.
pub const MAX_AHEAD_MS: i64 = 7 * 24 * 60 * 60 * 1000;

fn invalid(message: &'static str) -> Invalid {
    Invalid { field: "scheduled_datetime", code: "invalid_schedule", message }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn number(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// `YYYY-MM-DD` and `HH:MM[:SS]` as wall-clock milliseconds (before any offset).
fn wall_clock(date: &str, time: &str) -> Option<i64> {
    let mut d = date.split('-');
    let (year, month, day) = (number(d.next()?, 4)?, number(d.next()?, 2)?, number(d.next()?, 2)?);
    if d.next().is_some() || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut t = time.split(':');
    let (hour, minute) = (number(t.next()?, 2)?, number(t.next()?, 2)?);
    let second = match t.next() {
        None => 0,
        Some(s) => number(s.get(..2)?, 2).filter(|_| s.len() == 2 || s[2..].starts_with('.'))?,
    };
    if t.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(((days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60_000 + second * 1000)
}

/// Reads a customer's time: `"YYYY-MM-DD HH:MM"` in the panel's offset (`offset_minutes` east
/// of UTC, e.g. 540 for KST), or RFC 3339 (`2026-11-27T10:00:00+09:00`, `…Z`).
pub fn parse_datetime(s: &str, offset_minutes: i32) -> Result<Millis, Invalid> {
    let bad = || invalid("use \"YYYY-MM-DD HH:MM\" or RFC 3339");
    let s = s.trim();
    if s.len() > 40 {
        return Err(bad());
    }
    if let Some((date, rest)) = s.split_once(['T', 't']) {
        let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
            (t, 0)
        } else {
            let at = rest.rfind(['+', '-']).ok_or_else(bad)?;
            let (t, off) = rest.split_at(at);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (h, m) = off[1..].split_once(':').ok_or_else(bad)?;
            let (h, m) = (number(h, 2).ok_or_else(bad)?, number(m, 2).ok_or_else(bad)?);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            (t, sign * (h * 60 + m))
        };
        return Ok(Millis(wall_clock(date, time).ok_or_else(bad)? - offset * 60_000));
    }
    let (date, time) = s.split_once(' ').ok_or_else(bad)?;
    Ok(Millis(wall_clock(date, time.trim()).ok_or_else(bad)? - i64::from(offset_minutes) * 60_000))
}

/// A scheduled time must be 5 minutes to 7 days after `now`.
pub fn check_window(at: Millis, now: Millis) -> Result<Millis, Invalid> {
    let ahead = at.ms_since(now);
    if ahead < MIN_AHEAD_MS {
        Err(invalid("the time must be at least 5 minutes from now"))
    } else if ahead > MAX_AHEAD_MS {
        Err(invalid("the time must be at most 7 days from now"))
    } else {
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KST: i32 = 540;

    #[test]
    fn reads_both_forms() {
        // 2026-11-27 10:00 KST = 01:00 UTC.
        let utc = Millis(1_795_741_200_000);
        assert_eq!(parse_datetime("2026-11-27 10:00", KST), Ok(utc));
        assert_eq!(parse_datetime("2026-11-27T10:00:00+09:00", 0), Ok(utc));
        assert_eq!(parse_datetime("2026-11-27T01:00:00Z", KST), Ok(utc));
        assert_eq!(parse_datetime("2026-11-27T01:00:00.250Z", KST), Ok(utc));
        assert_eq!(parse_datetime("2026-11-26T20:00:00-05:00", KST), Ok(utc));
        assert_eq!(parse_datetime("1970-01-01 00:00", 0), Ok(Millis(0)));
        assert!(parse_datetime("2024-02-29 12:00", 0).is_ok());
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "tomorrow",
            "2026-11-27",
            "2026-13-01 10:00",
            "2026-02-30 10:00",
            "2025-02-29 10:00",
            "2026-11-27 24:00",
            "2026-11-27 10:60",
            "2026-11-27T10:00:00",
            "2026-11-27T10:00+9:00",
            "99999-01-01 00:00",
            "2026-1-01 10:00",
            "2026-11-27 10:00:00:00",
            "２０２６-11-27 10:00",
        ] {
            assert_eq!(parse_datetime(bad, KST).map_err(|e| e.code), Err("invalid_schedule"), "{bad:?}");
        }
    }

    #[test]
    fn window() {
        let now = Millis(1_000_000_000_000);
        assert!(check_window(now.plus_ms(4 * 60_000), now).is_err());
        assert!(check_window(now.plus_ms(MIN_AHEAD_MS), now).is_ok());
        assert!(check_window(now.plus_ms(MAX_AHEAD_MS), now).is_ok());
        assert!(check_window(now.plus_ms(8 * 24 * 3_600_000), now).is_err());
        assert!(check_window(now.minus_ms(1), now).is_err());
        assert!(check_window(Millis::MIN, Millis::MAX).is_err());
    }
}
