//! A single order (one upstream submission; drip-feed runs are one submission too) as a state
//! machine. The store loads the order and its submission job, hands the machine an input, and
//! writes what [`Effects`] say in one transaction; nothing about the life cycle is decided
//! anywhere else.

use std::fmt;

use crate::money::Points;
use crate::order::{admin_transition, refund_cap, retry_due, settle, OrderStatus, SettleError, Settlement};
use crate::plan::Submitted;
use crate::time::Millis;
use crate::upstream::smm;

/// Where the submission job of an order is, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// To be sent at `at`, ms since the epoch (or retried then).
    Due { at: Millis },
    /// A worker claimed it and may be talking to the upstream.
    Submitting,
    /// The upstream took it.
    Done,
    /// Its outcome is unknown: never resent; an operator resolves it.
    Unknown,
    /// Refused for good.
    Failed,
    /// Withdrawn before it was sent.
    Canceled,
}

impl Job {
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Due { .. } => "due",
            Job::Submitting => "submitting",
            Job::Done => "done",
            Job::Unknown => "unknown",
            Job::Failed => "failed",
            Job::Canceled => "canceled",
        }
    }

    /// The job as stored: its state and, when due, its due time (ms since the epoch).
    pub fn from_stored(state: &str, due_at: Millis) -> Option<Job> {
        Some(match state {
            "due" => Job::Due { at: due_at },
            "submitting" => Job::Submitting,
            "done" => Job::Done,
            "unknown" => Job::Unknown,
            "failed" => Job::Failed,
            "canceled" => Job::Canceled,
            _ => return None,
        })
    }
}

/// What can happen to a single order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A worker claims the due submission.
    Claim,
    /// How the claimed submission ended.
    Submitted(Submitted),
    /// The claim's lease ran out and nobody settled it (the worker died mid-call).
    LeaseExpired,
    /// What the upstream says of the accepted order.
    Upstream { status: &'a smm::Status, remains: Option<i64> },
    /// The same, already read by [`crate::order::settle`] (the status sync reads a batch first).
    Settled(Settlement),
    /// The owner cancels.
    OwnerCancel,
    /// An operator moves the order to a status.
    Operator(OrderStatus),
}

/// What the store writes after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Effects {
    /// The order's status now.
    pub status: OrderStatus,
    /// The job's state now, when it changed.
    pub job: Option<Job>,
    /// Points to give back now (ledger `order_refund`, the order's event key); already capped.
    pub refund: Points,
}

/// An input the order cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleError {
    /// Not in this state.
    Illegal { status: OrderStatus, job: Job, input: &'static str },
    /// The upstream's reading cannot settle it (the order stays open for the operator).
    Settle(SettleError),
}

impl fmt::Display for SingleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SingleError::Illegal { status, job, input } => {
                write!(f, "an order {status} with its job {} cannot take {input}", job.as_str())
            }
            SingleError::Settle(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SingleError {}

/// A single order as the store has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Single {
    pub status: OrderStatus,
    pub job: Job,
    pub final_price: Points,
    /// Units ordered in all (quantity × runs for drip-feed).
    pub total_quantity: u64,
    pub refunded: Points,
}

impl Single {
    /// When the job is next due (ms since the epoch), if it waits for a time.
    pub fn poll_timeout(&self) -> Option<Millis> {
        match self.job {
            Job::Due { at } if !self.status.is_terminal() => Some(at),
            _ => None,
        }
    }

    fn illegal(&self, input: &'static str) -> SingleError {
        SingleError::Illegal { status: self.status, job: self.job, input }
    }

    /// What an upstream reading of the running order does: its status, and the refund of a
    /// settlement, capped by what is left of the price.
    fn reading(&self, s: Settlement) -> Result<(OrderStatus, Option<Job>, Points), SingleError> {
        if self.status != OrderStatus::InProgress {
            return Err(self.illegal("an upstream status"));
        }
        let refund = if s.status.is_terminal() {
            refund_cap(self.final_price, self.refunded, s.refund)
        } else {
            Points::ZERO
        };
        Ok((s.status, None, refund))
    }

    /// Takes `input` at `now` (ms since the epoch): the new state, and what to write. An input
    /// the order cannot take is a [`SingleError`], and changes nothing.
    ///
    /// # Example
    ///
    /// ```
    /// use snspmt_core::order::{NotAccepted, OrderStatus};
    /// use snspmt_core::plan::Submitted;
    /// use snspmt_core::single::{Input, Job, Single, SingleError};
    /// use snspmt_core::{Millis, Points};
    ///
    /// # fn main() -> Result<(), SingleError> {
    /// let t0 = Millis(1_700_000_000_000);
    /// let mut order = Single {
    ///     status: OrderStatus::Pending,
    ///     job: Job::Due { at: t0 },
    ///     final_price: Points(1_000),
    ///     total_quantity: 100,
    ///     refunded: Points(0),
    /// };
    /// assert_eq!(order.poll_timeout(), Some(t0));
    /// // Claimed once: a second claim is a typed error, not a panic.
    /// assert_eq!(order.handle(Input::Claim, t0)?.status, OrderStatus::Submitting);
    /// assert!(order.handle(Input::Claim, t0).is_err());
    /// // The panel answered 429: due again after a back-off, nothing refunded.
    /// let throttled = Submitted::NotAccepted { why: NotAccepted::Throttled, attempts: 1 };
    /// let retry = order.handle(Input::Submitted(throttled), t0.plus_ms(1))?;
    /// assert_eq!((retry.status, retry.refund), (OrderStatus::Pending, Points(0)));
    /// assert!(order.poll_timeout() > Some(t0.plus_ms(1)));
    /// // The owner cancels before it is sent again: everything comes back, once.
    /// let canceled = order.handle(Input::OwnerCancel, t0.plus_ms(2))?;
    /// assert_eq!((canceled.status, canceled.refund), (OrderStatus::Canceled, Points(1_000)));
    /// assert!(order.handle(Input::OwnerCancel, t0.plus_ms(3)).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn handle(&mut self, input: Input<'_>, now: Millis) -> Result<Effects, SingleError> {
        let rest = |s: &Single| refund_cap(s.final_price, s.refunded, s.final_price);
        let (status, job, refund) = match input {
            Input::Claim => match self.job {
                Job::Due { at } if at <= now && !self.status.is_terminal() => {
                    (OrderStatus::Submitting, Some(Job::Submitting), Points::ZERO)
                }
                _ => return Err(self.illegal("a claim")),
            },
            Input::Submitted(outcome) => {
                if self.job != Job::Submitting {
                    return Err(self.illegal("a submission outcome"));
                }
                match outcome {
                    Submitted::Accepted => (OrderStatus::InProgress, Some(Job::Done), Points::ZERO),
                    Submitted::Rejected => (OrderStatus::Failed, Some(Job::Failed), rest(self)),
                    Submitted::NotAccepted { why, attempts } => {
                        let at = retry_due(now, why, attempts);
                        (OrderStatus::Pending, Some(Job::Due { at }), Points::ZERO)
                    }
                    Submitted::Unknown => (OrderStatus::Unknown, Some(Job::Unknown), Points::ZERO),
                }
            }
            Input::LeaseExpired => {
                if self.job != Job::Submitting {
                    return Err(self.illegal("a lease expiry"));
                }
                (OrderStatus::Unknown, Some(Job::Unknown), Points::ZERO)
            }
            Input::Upstream { status, remains } => {
                let s = settle(self.final_price, self.total_quantity, status, remains)
                    .map_err(SingleError::Settle)?;
                self.reading(s)?
            }
            Input::Settled(s) => self.reading(s)?,
            Input::OwnerCancel => match (self.status, self.job) {
                (OrderStatus::Pending | OrderStatus::Scheduled, Job::Due { .. }) => {
                    (OrderStatus::Canceled, Some(Job::Canceled), rest(self))
                }
                _ => return Err(self.illegal("the owner's cancel")),
            },
            Input::Operator(to) => {
                let t = admin_transition(self.status, to)
                    .map_err(|_| self.illegal("an operator's transition"))?;
                let job = if t.cancel_job {
                    if !matches!(self.job, Job::Due { .. }) {
                        return Err(self.illegal("an operator's transition"));
                    }
                    Some(Job::Canceled)
                } else if self.status == OrderStatus::Unknown {
                    Some(if t.refund_in_full { Job::Failed } else { Job::Done })
                } else {
                    None
                };
                (t.to, job, if t.refund_in_full { rest(self) } else { Points::ZERO })
            }
        };
        self.status = status;
        if let Some(j) = job {
            self.job = j;
        }
        self.refunded = Points(self.refunded.0 + refund.0);
        Ok(Effects { status, job, refund })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::NotAccepted;

    fn order(at: i64) -> Single {
        Single {
            status: OrderStatus::Pending,
            job: Job::Due { at: Millis(at) },
            final_price: Points(1000),
            total_quantity: 100,
            refunded: Points::ZERO,
        }
    }

    #[test]
    fn a_submission_runs_once_and_settles_once() {
        let mut o = order(10);
        assert_eq!(o.poll_timeout(), Some(Millis(10)));
        assert!(o.handle(Input::Claim, Millis(9)).is_err(), "not before it is due");
        assert_eq!(o.handle(Input::Claim, Millis(10)).map(|e| e.status), Ok(OrderStatus::Submitting));
        assert!(o.handle(Input::Claim, Millis(11)).is_err(), "claimed once");
        let e = o.handle(Input::Submitted(Submitted::Accepted), Millis(12)).expect("accepted");
        assert_eq!((e.status, e.job), (OrderStatus::InProgress, Some(Job::Done)));
        let partial = smm::Status::Partial;
        assert_eq!(
            o.handle(Input::Upstream { status: &partial, remains: None }, Millis(13)),
            Err(SingleError::Settle(SettleError::UnreadableRemains)),
            "an unreadable reading settles nothing"
        );
        assert_eq!(o.status, OrderStatus::InProgress);
        let e =
            o.handle(Input::Upstream { status: &partial, remains: Some(25) }, Millis(14)).expect("partial");
        assert_eq!((e.status, e.refund), (OrderStatus::Partial, Points(250)));
        assert!(o
            .handle(Input::Upstream { status: &smm::Status::Canceled, remains: None }, Millis(15))
            .is_err());
        assert_eq!(o.poll_timeout(), None);
    }

    #[test]
    fn refusals_retries_and_lost_workers() {
        let mut o = order(0);
        let _ = o.handle(Input::Claim, Millis(0)).expect("claim");
        let not_sent = Submitted::NotAccepted { why: NotAccepted::NotSent, attempts: 1 };
        let e = o.handle(Input::Submitted(not_sent), Millis(1)).expect("retry");
        assert_eq!((e.status, o.poll_timeout()), (OrderStatus::Pending, Some(Millis(60_001))));
        assert!(o.handle(Input::Claim, Millis(60_000)).is_err(), "not before its back-off");
        let _ = o.handle(Input::Claim, Millis(60_001)).expect("claim again");
        let throttled = Submitted::NotAccepted { why: NotAccepted::Throttled, attempts: 2 };
        let e = o.handle(Input::Submitted(throttled), Millis(60_002)).expect("a 429 is not accepted");
        assert_eq!(
            (e.status, e.job, e.refund),
            (OrderStatus::Pending, Some(Job::Due { at: Millis(90_002) }), Points::ZERO)
        );
        let _ = o.handle(Input::Claim, Millis(90_002)).expect("claim a third time");
        let e = o.handle(Input::LeaseExpired, Millis(400_000)).expect("lost");
        assert_eq!((e.status, e.refund), (OrderStatus::Unknown, Points::ZERO));
        assert!(o.handle(Input::Claim, Millis(500_000)).is_err(), "an unknown submission is never resent");
        let e = o.handle(Input::Operator(OrderStatus::Failed), Millis(500_001)).expect("operator");
        assert_eq!((e.status, e.job, e.refund), (OrderStatus::Failed, Some(Job::Failed), Points(1000)));

        let mut r = order(0);
        let _ = r.handle(Input::Claim, Millis(0)).expect("claim");
        let e = r.handle(Input::Submitted(Submitted::Rejected), Millis(1)).expect("rejected");
        assert_eq!((e.status, e.refund), (OrderStatus::Failed, Points(1000)));
        assert!(r.handle(Input::Operator(OrderStatus::Canceled), Millis(2)).is_err(), "terminal");
    }

    #[test]
    fn cancels_and_operator_ends() {
        let mut o = order(100);
        let e = o.handle(Input::OwnerCancel, Millis(1)).expect("owner cancel");
        assert_eq!((e.status, e.job, e.refund), (OrderStatus::Canceled, Some(Job::Canceled), Points(1000)));
        assert!(o.handle(Input::OwnerCancel, Millis(2)).is_err());

        let mut claimed = order(0);
        let _ = claimed.handle(Input::Claim, Millis(0)).expect("claim");
        assert!(claimed.handle(Input::OwnerCancel, Millis(1)).is_err(), "a worker is on it");
        assert!(claimed.handle(Input::Operator(OrderStatus::Canceled), Millis(1)).is_err(), "submitting");

        let mut running = order(0);
        let _ = running.handle(Input::Claim, Millis(0)).expect("claim");
        let _ = running.handle(Input::Submitted(Submitted::Accepted), Millis(1)).expect("accepted");
        let e = running.handle(Input::Operator(OrderStatus::Canceled), Millis(2)).expect("operator");
        assert_eq!((e.status, e.job, e.refund), (OrderStatus::Canceled, None, Points(1000)));
        assert!(running
            .handle(Input::Upstream { status: &smm::Status::Canceled, remains: None }, Millis(3))
            .is_err());
    }
}
