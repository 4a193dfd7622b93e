//! Model-based test of multi-part runs (`plan::Run`): random sequences of clock ticks,
//! submission outcomes and upstream statuses, checked against a naive model — every part is
//! sent at most once to an upstream that took it, in order and after its delay; refunds never
//! exceed a part's share or the price; the order ends in the state its parts say.

use proptest::prelude::*;
use snspmt_core::order::{NotAccepted, OrderStatus};
use snspmt_core::plan::{self, PartState, Run, Step, Submitted};
use snspmt_core::upstream::smm::Status;
use snspmt_core::{Millis, Points};

#[derive(Debug, Clone)]
enum Op {
    Tick(i64),
    Outcome { pick: usize, kind: u8, attempts: u32 },
    Upstream { pick: usize, status: u8, remains: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0i64..3000).prop_map(|m| Op::Tick(m * 60_000)),
        (any::<usize>(), 0u8..6, 0u32..40).prop_map(|(pick, kind, attempts)| Op::Outcome {
            pick,
            kind,
            attempts
        }),
        (any::<usize>(), 0u8..5, -5i64..1200).prop_map(|(pick, status, remains)| Op::Upstream {
            pick,
            status,
            remains
        }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (10u64..1000, 1u32..4, proptest::option::of(0u32..2000)).prop_map(|(quantity, repeat, delay)| Step {
        service_id: 1,
        quantity,
        delay_minutes: delay,
        repeat,
        name: String::new(),
    })
}

/// The back-off, written out the long way: the cause's first delay, doubled per attempt after
/// the first, capped.
fn naive_backoff(why: NotAccepted, attempts: u32) -> i64 {
    let (mut delay, cap) = match why {
        NotAccepted::Throttled => (15_000, 600_000),
        NotAccepted::NotSent | NotAccepted::Refused => (60_000, 3_600_000),
    };
    for _ in 1..attempts.max(1) {
        delay = (delay * 2).min(cap);
    }
    delay
}

/// What the naive model knows of a part.
#[derive(Debug, Clone, Copy, PartialEq)]
enum M {
    Waiting,
    Due(i64),
    Out,
    /// Settled with the upstream (accepted or unknown) at this time.
    Placed {
        at: i64,
        accepted: bool,
    },
    Ended {
        refund: i64,
        completed: bool,
    },
}

fn status_of(n: u8) -> Status {
    match n {
        0 => Status::Completed,
        1 => Status::Partial,
        2 => Status::Canceled,
        3 => Status::InProgress,
        _ => Status::Other("Queued".into()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn runs_match_the_naive_model(
        steps in proptest::collection::vec(step(), 1..4),
        price in 1i64..100_000,
        ops in proptest::collection::vec(op(), 0..80),
    ) {
        let parts = plan::package_parts(&steps, Points(price)).expect("plan");
        let n = parts.len();
        prop_assert_eq!(parts.iter().map(|p| p.share.0).sum::<i64>(), price);
        let mut now = 0i64;
        let mut run = Run::new(parts.clone(), Some(Millis(now)));
        let mut model = vec![M::Waiting; n];
        model[0] = M::Due(0);
        let mut placed_upstream = vec![0u32; n];
        let mut refunds = vec![0i64; n];

        for op in &ops {
            match op {
                Op::Tick(d) => {
                    now += d;
                    let fx = run.handle_timeout(Millis(now));
                    let expect: Vec<u32> = (0..n).filter(|&i| matches!(model[i], M::Due(at) if at <= now)).map(|i| i as u32).collect();
                    prop_assert_eq!(&fx.submit, &expect);
                    for &i in &fx.submit {
                        let i = i as usize;
                        // In order and after the delay: the previous part was placed or ended
                        // at least `delay` before.
                        if i > 0 {
                            prop_assert!(!matches!(model[i - 1], M::Waiting | M::Due(_) | M::Out));
                        }
                        model[i] = M::Out;
                    }
                }
                Op::Outcome { pick, kind, attempts } => {
                    let out: Vec<usize> = (0..n).filter(|&i| model[i] == M::Out).collect();
                    if out.is_empty() {
                        prop_assert!(run.submitted(0, Submitted::Accepted, Millis(now)).is_err() || model[0] == M::Out);
                        continue;
                    }
                    let i = out[pick % out.len()];
                    let outcome = match kind {
                        0 => Submitted::Accepted,
                        1 => Submitted::Rejected,
                        2 => Submitted::Unknown,
                        k => Submitted::NotAccepted { why: NotAccepted::ALL[usize::from(k - 3)], attempts: *attempts },
                    };
                    let fx = run.submitted(i as u32, outcome, Millis(now)).expect("a submitting part settles");
                    let next_due = |model: &mut Vec<M>| {
                        if i + 1 < n && model[i + 1] == M::Waiting {
                            model[i + 1] = M::Due(now + i64::from(parts[i + 1].delay_minutes) * 60_000);
                        }
                    };
                    match outcome {
                        Submitted::Accepted | Submitted::Unknown => {
                            placed_upstream[i] += 1;
                            model[i] = M::Placed { at: now, accepted: outcome == Submitted::Accepted };
                            next_due(&mut model);
                            prop_assert_eq!(fx.refund, None);
                        }
                        Submitted::Rejected => {
                            model[i] = M::Ended { refund: parts[i].share.0, completed: false };
                            next_due(&mut model);
                            prop_assert_eq!(fx.refund, Some((i as u32, parts[i].share)));
                            refunds[i] += parts[i].share.0;
                        }
                        Submitted::NotAccepted { why, attempts } => {
                            // The same part is due again after its back-off; nothing is refunded.
                            model[i] = M::Due(now + naive_backoff(why, attempts));
                            prop_assert_eq!(fx.refund, None);
                        }
                    }
                    // Settling twice is refused.
                    prop_assert!(run.submitted(i as u32, Submitted::Accepted, Millis(now)).is_err() || model[i] == M::Out || matches!(model[i], M::Due(_)));
                }
                Op::Upstream { pick, status, remains } => {
                    let i = pick % n;
                    let before = run.states().to_vec();
                    let status = status_of(*status);
                    let r = run.upstream(i as u32, &status, Some(*remains));
                    match model[i] {
                        M::Placed { accepted: true, .. } => {
                            let fx = r.expect("an accepted part takes a status");
                            let terminal = matches!(status, Status::Completed | Status::Partial | Status::Canceled);
                            if terminal {
                                let q = parts[i].quantity as i64;
                                let share = parts[i].share.0;
                                let refund = match status {
                                    Status::Canceled => share,
                                    Status::Partial => ((i128::from(share) * i128::from((*remains).clamp(0, q))) / i128::from(q)) as i64,
                                    _ => 0,
                                };
                                prop_assert_eq!(fx.refund, (refund > 0).then_some((i as u32, Points(refund))));
                                refunds[i] += refund;
                                model[i] = M::Ended { refund, completed: refund == 0 };
                            } else {
                                prop_assert_eq!(fx, Default::default());
                            }
                        }
                        _ => {
                            prop_assert!(r.is_err(), "part {} in {:?} must refuse a status", i, model[i]);
                            prop_assert_eq!(run.states(), &before[..], "a refused input changes nothing");
                        }
                    }
                }
            }
            // The clock's next wake-up is the earliest due part.
            let due = model.iter().filter_map(|m| match m { M::Due(at) => Some(*at), _ => None }).min();
            prop_assert_eq!(run.poll_timeout().map(Millis::as_ms), due);
            for (i, r) in refunds.iter().enumerate() {
                prop_assert!(*r <= parts[i].share.0, "part {} refunded {} of {}", i, r, parts[i].share.0);
            }
            prop_assert_eq!(run.refunded().0, refunds.iter().sum::<i64>());
            prop_assert!(run.refunded().0 <= price);
            prop_assert!(placed_upstream.iter().all(|&c| c <= 1), "a part reached the upstream twice");
        }

        // Drain: what is in flight is accepted, every other part is eventually placed and
        // completes upstream.
        for (i, placed) in placed_upstream.iter_mut().enumerate() {
            if run.states()[i] == PartState::Submitting {
                let _ = run.submitted(i as u32, Submitted::Accepted, Millis(now)).expect("settle");
                *placed += 1;
            }
        }
        for _ in 0..(4 * n + 4) {
            if let Some(at) = run.poll_timeout() {
                now = now.max(at.as_ms());
            }
            for i in run.handle_timeout(Millis(now)).submit {
                let _ = run.submitted(i, Submitted::Accepted, Millis(now)).expect("settle");
                placed_upstream[i as usize] += 1;
            }
            for i in 0..n {
                if matches!(run.states()[i], PartState::Accepted { .. }) {
                    let _ = run.upstream(i as u32, &Status::Completed, Some(0)).expect("complete");
                }
            }
        }
        for i in 0..n {
            let rejected = matches!(run.states()[i], PartState::Ended { completed: false, refunded } if refunded == parts[i].share && placed_upstream[i] == 0);
            prop_assert!(placed_upstream[i] == 1 || rejected, "part {} placed {} times: {:?}", i, placed_upstream[i], run.states());
        }
        let unknown = run.states().iter().any(|s| matches!(s, PartState::Unknown { .. }));
        let ended: Vec<(i64, bool)> = run.states().iter().filter_map(|s| match s {
            PartState::Ended { refunded, completed } => Some((refunded.0, *completed)),
            _ => None,
        }).collect();
        let expected = if unknown {
            OrderStatus::Processing
        } else if ended.iter().all(|(_, c)| *c) {
            OrderStatus::Completed
        } else if ended.iter().all(|(_, c)| !*c) {
            OrderStatus::Canceled
        } else {
            OrderStatus::Partial
        };
        prop_assert_eq!(run.order_status(), expected);
        prop_assert!(run.refunded().0 <= price);
    }

    #[test]
    fn deferred_runs_wait_for_their_start(steps in proptest::collection::vec(step(), 1..3), price in 1i64..10_000, t in 0i64..1_000_000) {
        let parts = plan::package_parts(&steps, Points(price)).expect("plan");
        let mut run = Run::new(parts, None);
        prop_assert_eq!(run.poll_timeout(), None);
        prop_assert!(run.handle_timeout(Millis::MAX).submit.is_empty());
        let t = Millis(t);
        prop_assert!(run.start(t));
        prop_assert!(!run.start(t.plus_ms(1)), "starting twice does nothing");
        prop_assert_eq!(run.poll_timeout(), Some(t));
        prop_assert_eq!(run.handle_timeout(t).submit, vec![0]);
    }
}
