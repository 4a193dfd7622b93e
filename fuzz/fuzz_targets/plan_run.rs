//! The multi-part order run driven by arbitrary inputs: never a panic; refunds never exceed a
//! part's share or the price; a part is never handed out while it is being submitted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snspmt_core::plan::{self, PartState, Run, Step, Submitted};
use snspmt_core::upstream::smm::Status;
use snspmt_core::{Millis, Points};

fuzz_target!(|input: (Vec<(u16, u8, Option<u16>)>, u32, Vec<(u8, u16, i16)>)| {
    let (raw_steps, price, ops) = input;
    let steps: Vec<Step> = raw_steps
        .iter()
        .take(4)
        .map(|(q, r, d)| Step {
            service_id: 1,
            quantity: u64::from(*q),
            delay_minutes: d.map(u32::from),
            repeat: u32::from(*r % 4),
            name: String::new(),
        })
        .collect();
    let price = i64::from(price);
    let Ok(parts) = plan::package_parts(&steps, Points(price)) else { return };
    let n = parts.len() as u32;
    let mut run = Run::new(parts.clone(), Some(Millis::EPOCH));
    let mut now = Millis::EPOCH;
    for (kind, arg, extra) in ops.into_iter().take(200) {
        match kind % 3 {
            0 => {
                now = now.plus_minutes(i64::from(arg));
                for i in run.handle_timeout(now).submit {
                    assert_eq!(run.states()[i as usize], PartState::Submitting);
                }
            }
            1 => {
                let outcome = match extra.rem_euclid(4) {
                    0 => Submitted::Accepted,
                    1 => Submitted::Rejected,
                    2 => Submitted::NotAccepted {
                        why: snspmt_core::order::NotAccepted::ALL[usize::from(arg % 3)],
                        attempts: u32::from(arg),
                    },
                    _ => Submitted::Unknown,
                };
                let _ = run.submitted(u32::from(arg) % n.max(1), outcome, now);
            }
            _ => {
                let status = match arg % 4 {
                    0 => Status::Completed,
                    1 => Status::Partial,
                    2 => Status::Canceled,
                    _ => Status::InProgress,
                };
                let _ = run.upstream(u32::from(arg) % n.max(1), &status, Some(i64::from(extra)));
            }
        }
        assert!(run.refunded().0 <= price);
        for (i, s) in run.states().iter().enumerate() {
            if let PartState::Ended { refunded, .. } = s {
                assert!(refunded.0 <= parts[i].share.0);
            }
        }
    }
});
