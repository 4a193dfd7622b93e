//! A submission the panel did not take (nothing sent, HTTP 429, a refusal that may pass) goes
//! back to `pending` with a due time the core computes — exponential, capped, always later
//! than now — and never becomes `unknown`; only an ambiguous answer does.

use proptest::prelude::*;
use snspmt_core::order::{retry_backoff_ms, retry_due, NotAccepted, OrderStatus};
use snspmt_core::plan::{self, PartState, Run, Step, Submitted};
use snspmt_core::single::{Input, Job, Single};
use snspmt_core::upstream::smm::{read_add_answer, AddOutcome, ErrorClass};
use snspmt_core::{Millis, Points};

fn why() -> impl Strategy<Value = NotAccepted> {
    prop_oneof![Just(NotAccepted::NotSent), Just(NotAccepted::Throttled), Just(NotAccepted::Refused)]
}

/// The longest back-off of each cause.
fn cap(why: NotAccepted) -> i64 {
    match why {
        NotAccepted::Throttled => 600_000,
        NotAccepted::NotSent | NotAccepted::Refused => 3_600_000,
    }
}

#[test]
fn answers_to_add() {
    let throttled = |body: &str| match read_add_answer(429, body.as_bytes()) {
        AddOutcome::NotAccepted { why, .. } => why,
        other => panic!("429 {body:?} read as {other:?}"),
    };
    for body in ["<html><h1>429 Too Many Requests</h1></html>", "", "{\"order\":", r#"{"order": 5}"#] {
        assert_eq!(throttled(body), NotAccepted::Throttled, "a 429 is a refusal whatever its body");
    }
    assert_eq!(read_add_answer(200, br#"{"order": 5}"#), AddOutcome::Accepted { order: "5".into() });
    assert!(matches!(
        read_add_answer(200, br#"{"error": "Incorrect link"}"#),
        AddOutcome::Rejected(e) if e.class == ErrorClass::Definitive
    ));
    assert!(matches!(read_add_answer(400, br#"{"error": "Incorrect service ID"}"#), AddOutcome::Rejected(_)));
    for message in ["Not enough funds on balance", "Invalid API key", "Service is temporarily disabled"] {
        let body = serde_json::json!({ "error": message }).to_string();
        assert_eq!(
            read_add_answer(200, body.as_bytes()),
            AddOutcome::NotAccepted { why: NotAccepted::Refused, detail: message.into() },
        );
    }
    // Ambiguous: the panel may have created the order.
    for (status, body) in [
        (502, "<html>bad gateway</html>"),
        (503, r#"{"error": "Too many requests"}"#),
        (500, r#"{"order": 5}"#),
        (200, "<html>challenge</html>"),
        (200, ""),
        (200, "{\"order\":"),
    ] {
        assert!(
            matches!(read_add_answer(status, body.as_bytes()), AddOutcome::Unknown(_)),
            "{status} {body:?} is an unknown outcome"
        );
    }
}

#[test]
fn a_run_retries_the_part_that_was_not_taken() {
    let steps =
        [Step { service_id: 1, quantity: 10, delay_minutes: Some(5), repeat: 2, name: String::new() }];
    let parts = plan::package_parts(&steps, Points(100)).expect("plan");
    let mut run = Run::new(parts, Some(Millis(0)));
    assert_eq!(run.handle_timeout(Millis(0)).submit, vec![0]);
    let fx = run
        .submitted(0, Submitted::NotAccepted { why: NotAccepted::Throttled, attempts: 1 }, Millis(10))
        .expect("not accepted");
    assert_eq!(fx.refund, None);
    assert_eq!(run.states()[..], [PartState::Due { at: Millis(15_010) }, PartState::Waiting]);
    assert!(run.handle_timeout(Millis(15_009)).submit.is_empty(), "not before its back-off");
    assert_eq!(run.handle_timeout(Millis(15_010)).submit, vec![0]);
    assert_eq!(run.order_status(), OrderStatus::Processing);
}

proptest! {
    /// The back-off grows with the attempts and stays within its cause's bounds.
    #[test]
    fn backoff_grows_and_is_capped(why in why(), attempts in any::<u32>(), now in any::<i64>()) {
        let d = retry_backoff_ms(why, attempts);
        prop_assert!(d >= retry_backoff_ms(why, 1) && d <= cap(why));
        prop_assert!(retry_backoff_ms(why, attempts.saturating_add(1)) >= d);
        let (now, due) = (Millis(now), retry_due(Millis(now), why, attempts));
        prop_assert!(due > now || now == Millis::MAX);
    }

    /// Any answer to `add` reads without a panic; a 429 is never unknown, a 5xx always is.
    #[test]
    fn any_answer_reads(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let read = read_add_answer(status, &body);
        if status == 429 {
            prop_assert!(matches!(read, AddOutcome::NotAccepted { why: NotAccepted::Throttled, .. }), "{:?}", read);
        } else if status >= 500 {
            prop_assert!(matches!(read, AddOutcome::Unknown(_)), "{:?}", read);
        }
    }

    /// However often a single order is not accepted, it waits in `pending` for a time after
    /// now, is claimed again only then, is refunded nothing and never becomes `unknown`.
    #[test]
    fn a_single_order_not_accepted_waits_and_retries(
        tries in proptest::collection::vec((why(), 0i64..10_000_000), 1..12),
        start in 0i64..1_000_000_000_000,
    ) {
        let mut o = Single {
            status: OrderStatus::Pending,
            job: Job::Due { at: Millis(start) },
            final_price: Points(1000),
            total_quantity: 100,
            refunded: Points::ZERO,
        };
        let mut now = Millis(start);
        for (attempt, (why, late)) in tries.into_iter().enumerate() {
            let due = o.poll_timeout().expect("due");
            prop_assert!(o.handle(Input::Claim, due.minus_ms(1)).is_err(), "claimed before its time");
            now = now.max(due).plus_ms(late);
            prop_assert_eq!(o.handle(Input::Claim, now).map(|e| e.status), Ok(OrderStatus::Submitting));
            let attempts = u32::try_from(attempt + 1).expect("small");
            let e = o.handle(Input::Submitted(Submitted::NotAccepted { why, attempts }), now).expect("taken");
            let at = retry_due(now, why, attempts);
            prop_assert_eq!((e.status, e.job, e.refund), (OrderStatus::Pending, Some(Job::Due { at }), Points::ZERO));
            prop_assert!(at > now && at.ms_since(now) <= cap(why));
            prop_assert_eq!(o.poll_timeout(), Some(at));
        }
        prop_assert_eq!(o.refunded, Points::ZERO);
    }
}
