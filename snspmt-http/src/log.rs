//! Plain-text log lines on standard error: one per request, and warnings and errors.
//! Never given a secret: callers pass paths without query strings and no header values.

use std::io::Write;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn line(level: &str, msg: &str) {
    let now = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{now} {level} {msg}");
}

pub fn info(msg: &str) {
    line("INFO", msg);
}

pub fn warn(msg: &str) {
    line("WARN", msg);
}

pub fn error(msg: &str) {
    line("ERROR", msg);
}
