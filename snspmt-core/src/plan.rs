//! Multi-part orders (§9): a package (steps × repeats) or a split delivery (n daily parts)
//! becomes an ordered list of [`Part`]s, each one upstream submission with its share of the
//! price. Part `k + 1` is due `delay_minutes` after part `k` was settled by the upstream (for a
//! split delivery, 1440 minutes: one a day). Pure: the store keeps the parts and applies
//! these rules in its transactions.

use std::fmt;

use crate::money::{self, MoneyError, Points};
use crate::order::{NotAccepted, OrderStatus, Settlement};
use crate::time::Millis;

/// The delay between package steps when a step names none: 24 hours.
pub const DEFAULT_DELAY_MINUTES: u32 = 1440;
/// The most parts one order may have.
pub const MAX_PARTS: usize = 1000;
/// Split delivery: 2..=30 days.
pub const SPLIT_DAYS: std::ops::RangeInclusive<u32> = 2..=30;

/// One step of a package as the catalogue defines it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    pub service_id: i64,
    pub quantity: u64,
    /// Minutes after the previous part was accepted; `None` means 1440.
    pub delay_minutes: Option<u32>,
    /// How many times the step runs (at least 1).
    pub repeat: u32,
    #[serde(default)]
    pub name: String,
}

/// One upstream submission of a multi-part order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub index: u32,
    pub step_index: u32,
    pub repeat_index: u32,
    pub name: String,
    pub service_id: i64,
    pub quantity: u64,
    /// Minutes after the previous part settled (0 for the first).
    pub delay_minutes: u32,
    /// This part's share of the price; the shares sum to the price.
    pub share: Points,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    NoSteps,
    TooManyParts(usize),
    ZeroQuantity { step: usize },
    ZeroRepeat { step: usize },
    SplitDays(u32),
    Money(MoneyError),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NoSteps => f.write_str("a package needs at least one step"),
            PlanError::TooManyParts(n) => write!(f, "{n} submissions is more than {MAX_PARTS}"),
            PlanError::ZeroQuantity { step } => write!(f, "step {step} has no quantity"),
            PlanError::ZeroRepeat { step } => write!(f, "step {step} repeats 0 times"),
            PlanError::SplitDays(d) => write!(f, "split_days must be 2..=30, not {d}"),
            PlanError::Money(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PlanError {}

fn with_shares(mut parts: Vec<Part>, price: Points) -> Result<Vec<Part>, PlanError> {
    let n = u32::try_from(parts.len()).map_err(|_| PlanError::TooManyParts(parts.len()))?;
    let shares = money::split_evenly(price, n).map_err(PlanError::Money)?;
    for (p, share) in parts.iter_mut().zip(shares) {
        p.share = share;
    }
    Ok(parts)
}

/// The parts of a package sold for `price`: every step `repeat` times, in order; the first
/// part is due at the start, each next one its step's delay after the previous one settled.
/// The shares are `price / n`, the remainder on the last (see [`money::split_evenly`]).
pub fn package_parts(steps: &[Step], price: Points) -> Result<Vec<Part>, PlanError> {
    if steps.is_empty() {
        return Err(PlanError::NoSteps);
    }
    let total: usize = steps.iter().map(|s| s.repeat as usize).sum();
    if total > MAX_PARTS {
        return Err(PlanError::TooManyParts(total));
    }
    let mut parts = Vec::with_capacity(total);
    for (si, step) in steps.iter().enumerate() {
        if step.quantity == 0 {
            return Err(PlanError::ZeroQuantity { step: si });
        }
        if step.repeat == 0 {
            return Err(PlanError::ZeroRepeat { step: si });
        }
        for r in 0..step.repeat {
            let index = parts.len() as u32;
            parts.push(Part {
                index,
                step_index: si as u32,
                repeat_index: r,
                name: if step.name.is_empty() { format!("Step {}", si + 1) } else { step.name.clone() },
                service_id: step.service_id,
                quantity: step.quantity,
                delay_minutes: if index == 0 {
                    0
                } else {
                    step.delay_minutes.unwrap_or(DEFAULT_DELAY_MINUTES)
                },
                share: Points::ZERO,
            });
        }
    }
    with_shares(parts, price)
}

/// A split delivery: `days` parts of `per_day` units of one service, one a day, sharing
/// `price` (which was computed on the total).
pub fn split_parts(service_id: i64, days: u32, per_day: u64, price: Points) -> Result<Vec<Part>, PlanError> {
    if !SPLIT_DAYS.contains(&days) {
        return Err(PlanError::SplitDays(days));
    }
    if per_day == 0 {
        return Err(PlanError::ZeroQuantity { step: 0 });
    }
    let parts = (0..days)
        .map(|d| Part {
            index: d,
            step_index: 0,
            repeat_index: d,
            name: format!("Day {}", d + 1),
            service_id,
            quantity: per_day,
            delay_minutes: if d == 0 { 0 } else { DEFAULT_DELAY_MINUTES },
            share: Points::ZERO,
        })
        .collect();
    with_shares(parts, price)
}

/// When the part after one settled at `settled_at` is due (both ms since the epoch).
pub fn next_due(settled_at: Millis, next_delay_minutes: u32) -> Millis {
    settled_at.plus_minutes(i64::from(next_delay_minutes))
}

/// How a part ended, for the order's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartEnd {
    /// Delivered in full.
    Completed,
    /// Some or all of its share was refunded (partial, canceled, failed).
    Refunded,
    /// Its outcome is unknown (an operator must resolve it).
    Unknown,
}

/// The status of a multi-part order: `processing` while any part has not ended; then
/// `completed` if every part completed, `canceled` if every part was refunded, else
/// `partial`. An unknown part keeps the order `processing` (it is listed for the operator).
pub fn order_status(ends: &[Option<PartEnd>]) -> OrderStatus {
    if ends.iter().any(|e| matches!(e, None | Some(PartEnd::Unknown))) {
        return OrderStatus::Processing;
    }
    if ends.iter().all(|e| *e == Some(PartEnd::Completed)) {
        OrderStatus::Completed
    } else if ends.iter().all(|e| *e == Some(PartEnd::Refunded)) {
        OrderStatus::Canceled
    } else {
        OrderStatus::Partial
    }
}

/// How a part's upstream status settles it: the §6 rules applied to the part's share.
pub fn settle_part(
    part_share: Points,
    quantity: u64,
    status: &crate::upstream::smm::Status,
    remains: Option<i64>,
) -> Result<Settlement, crate::order::SettleError> {
    crate::order::settle(part_share, quantity, status, remains)
}

/// Where one part of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartState {
    /// Its turn has not come.
    Waiting,
    /// To be submitted at `at` (ms since the epoch, as every time here).
    Due { at: Millis },
    /// Claimed: a submission is under way.
    Submitting,
    /// The upstream took it at `at`.
    Accepted { at: Millis },
    /// The submission's outcome is unknown (never resent).
    Unknown { at: Millis },
    /// Over: `refunded` of its share given back.
    Ended { refunded: Points, completed: bool },
}

/// Who ends a run before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ender {
    /// The customer: only before any part was submitted.
    Owner,
    /// An operator: at any time.
    Operator,
}

/// Where a part is, as stored (the store's `state` column, in lifecycle order); [`PartState`]
/// adds the times and amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Waiting,
    Due,
    Submitting,
    Accepted,
    Unknown,
    Ended,
}

impl Stage {
    pub const ALL: [Stage; 6] =
        [Stage::Waiting, Stage::Due, Stage::Submitting, Stage::Accepted, Stage::Unknown, Stage::Ended];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Waiting => "waiting",
            Stage::Due => "due",
            Stage::Submitting => "submitting",
            Stage::Accepted => "accepted",
            Stage::Unknown => "unknown",
            Stage::Ended => "ended",
        }
    }

    /// The stage of a part's state.
    pub fn of(state: &PartState) -> Stage {
        match state {
            PartState::Waiting => Stage::Waiting,
            PartState::Due { .. } => Stage::Due,
            PartState::Submitting => Stage::Submitting,
            PartState::Accepted { .. } => Stage::Accepted,
            PartState::Unknown { .. } => Stage::Unknown,
            PartState::Ended { .. } => Stage::Ended,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Stage, String> {
        Stage::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown part stage {s:?}"))
    }
}

/// How a submission ended, as the machines see it (a single order's and a run's parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Accepted,
    /// Refused for good: the share is refunded.
    Rejected,
    /// Not taken (nothing was sent, the panel answered 429, or it refused for a reason that may
    /// pass): due again after the back-off [`crate::order::retry_due`] sets for `why` on this,
    /// the `attempts`-th, try. Never `unknown`: the panel created nothing.
    NotAccepted {
        why: NotAccepted,
        attempts: u32,
    },
    /// Maybe taken.
    Unknown,
}

/// An input a run cannot take in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunError {
    pub index: u32,
    pub state: PartState,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "part {} cannot take that input in state {:?}", self.index, self.state)
    }
}

impl std::error::Error for RunError {}

/// What the caller must do after an input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Effects {
    /// Parts to submit now (already marked submitting).
    pub submit: Vec<u32>,
    /// A refund to post: (part, amount).
    pub refund: Option<(u32, Points)>,
}

/// A multi-part order run as a state machine: time comes in as input, effects go out.
/// This is the reference the store's transactions implement (claim = [`Run::handle_timeout`],
/// settle = [`Run::submitted`], status sync = [`Run::upstream`]); the model-based property test
/// checks it against a naive model.
///
/// # Example
///
/// ```
/// use snspmt_core::order::OrderStatus;
/// use snspmt_core::plan::{self, Run, Step, Submitted};
/// use snspmt_core::upstream::smm::Status;
/// use snspmt_core::{Millis, Points};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A package: one step of 100 units run twice, a minute apart, sold for 1,001 points.
/// let step = Step { service_id: 7, quantity: 100, delay_minutes: Some(1), repeat: 2, name: String::new() };
/// let steps = [step];
/// let parts = plan::package_parts(&steps, Points(1_001))?;
/// assert_eq!(parts.iter().map(|p| p.share).collect::<Vec<_>>(), [Points(500), Points(501)]);
///
/// let t0 = Millis(1_700_000_000_000); // ms since the epoch
/// let mut run = Run::new(parts, Some(t0));
/// assert_eq!(run.poll_timeout(), Some(t0));
/// assert_eq!(run.handle_timeout(t0).submit, [0]);
/// // Accepted: the next part is due its delay later.
/// assert_eq!(run.submitted(0, Submitted::Accepted, t0.plus_ms(10))?.refund, None);
/// assert_eq!(run.poll_timeout(), Some(t0.plus_ms(10 + 60_000)));
/// // The panel delivers the first in full, and refuses the second: its share comes back.
/// assert_eq!(run.upstream(0, &Status::Completed, Some(0))?.refund, None);
/// assert_eq!(run.handle_timeout(t0.plus_ms(60_010)).submit, [1]);
/// assert_eq!(run.submitted(1, Submitted::Rejected, t0.plus_ms(60_011))?.refund, Some((1, Points(501))));
/// assert_eq!((run.order_status(), run.refunded()), (OrderStatus::Partial, Points(501)));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Run {
    parts: Vec<Part>,
    states: Vec<PartState>,
    /// Ended before its time ([`Run::end`]): nothing is ever submitted again.
    ended: bool,
}

impl Run {
    /// A run as the store has it: `states[i]` is where part `i` is.
    pub fn from_states(parts: Vec<Part>, states: Vec<PartState>) -> Run {
        Run { parts, states, ended: false }
    }

    /// The same run, marked as ended before its time (the store knows it from the order's
    /// status: an ended order's run never submits again).
    pub fn with_ended(mut self, ended: bool) -> Run {
        self.ended = ended;
        self
    }

    /// Ends the run before its time (§8): every part not yet submitted (waiting or due) is
    /// canceled and its whole share refunded; parts in flight, accepted, unknown or ended keep
    /// their course. By the owner ([`Ender::Owner`]) only while no part was submitted, so that
    /// the refund is the whole price; by an operator at any time. Answers the refunds to post,
    /// `(part, amount)`.
    pub fn end(&mut self, by: Ender) -> Result<Vec<(u32, Points)>, RunError> {
        if by == Ender::Owner {
            if let Some((i, s)) = self
                .states
                .iter()
                .enumerate()
                .find(|(_, s)| !matches!(s, PartState::Waiting | PartState::Due { .. }))
            {
                return Err(RunError { index: i as u32, state: *s });
            }
        }
        self.ended = true;
        let mut refunds = Vec::new();
        for (i, s) in self.states.iter_mut().enumerate() {
            if matches!(s, PartState::Waiting | PartState::Due { .. }) {
                let share = self.parts[i].share;
                *s = PartState::Ended { refunded: share, completed: false };
                if share.0 > 0 {
                    refunds.push((i as u32, share));
                }
            }
        }
        Ok(refunds)
    }

    /// A run whose first part is due at `start` (`None`: deferred).
    pub fn new(parts: Vec<Part>, start: Option<Millis>) -> Run {
        let mut states = vec![PartState::Waiting; parts.len()];
        if let (Some(at), Some(first)) = (start, states.first_mut()) {
            *first = PartState::Due { at };
        }
        Run { parts, states, ended: false }
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    pub fn states(&self) -> &[PartState] {
        &self.states
    }

    /// Starts a deferred run; `false` if it had started.
    pub fn start(&mut self, now: Millis) -> bool {
        match self.states.first_mut() {
            Some(s @ PartState::Waiting) => {
                *s = PartState::Due { at: now };
                true
            }
            _ => false,
        }
    }

    /// When the next part is due, if any is waiting for a time.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.states
            .iter()
            .filter_map(|s| match s {
                PartState::Due { at } => Some(*at),
                _ => None,
            })
            .min()
    }

    /// Claims every part due by `now`.
    pub fn handle_timeout(&mut self, now: Millis) -> Effects {
        let mut effects = Effects::default();
        for (i, s) in self.states.iter_mut().enumerate() {
            if matches!(s, PartState::Due { at } if *at <= now) {
                *s = PartState::Submitting;
                effects.submit.push(i as u32);
            }
        }
        effects
    }

    fn state(&self, index: u32) -> Result<PartState, RunError> {
        self.states.get(index as usize).copied().ok_or(RunError { index, state: PartState::Waiting })
    }

    /// The part after `index` becomes due its delay after `now`.
    fn advance(&mut self, index: u32, now: Millis) {
        let next = index as usize + 1;
        if let (Some(s @ PartState::Waiting), Some(p)) = (self.states.get_mut(next), self.parts.get(next)) {
            *s = PartState::Due { at: next_due(now, p.delay_minutes) };
        }
    }

    /// How part `index`'s submission ended.
    pub fn submitted(&mut self, index: u32, outcome: Submitted, now: Millis) -> Result<Effects, RunError> {
        let state = self.state(index)?;
        if state != PartState::Submitting {
            return Err(RunError { index, state });
        }
        let i = index as usize;
        let mut effects = Effects::default();
        match outcome {
            Submitted::Accepted => self.states[i] = PartState::Accepted { at: now },
            Submitted::Unknown => self.states[i] = PartState::Unknown { at: now },
            Submitted::Rejected => {
                let share = self.parts[i].share;
                self.states[i] = PartState::Ended { refunded: share, completed: false };
                effects.refund = Some((index, share));
            }
            // A run that ended while this part was in flight: the panel did not take it, and
            // it is never sent again; its share goes back.
            Submitted::NotAccepted { .. } if self.ended => {
                let share = self.parts[i].share;
                self.states[i] = PartState::Ended { refunded: share, completed: false };
                effects.refund = Some((index, share));
                return Ok(effects);
            }
            // Not taken: the same part is due again after its back-off; the next one waits.
            Submitted::NotAccepted { why, attempts } => {
                self.states[i] = PartState::Due { at: crate::order::retry_due(now, why, attempts) };
                return Ok(effects);
            }
        }
        self.advance(index, now);
        Ok(effects)
    }

    /// The upstream's status of an accepted part; a terminal one ends it with its refund.
    pub fn upstream(
        &mut self,
        index: u32,
        status: &crate::upstream::smm::Status,
        remains: Option<i64>,
    ) -> Result<Effects, RunError> {
        let state = self.state(index)?;
        let part = self.parts.get(index as usize).ok_or(RunError { index, state })?;
        let s =
            settle_part(part.share, part.quantity, status, remains).map_err(|_| RunError { index, state })?;
        self.settled(index, s)
    }

    /// The same, already read by [`settle_part`] (the status sync reads a batch first). The
    /// refund is capped by the part's share.
    pub fn settled(&mut self, index: u32, s: Settlement) -> Result<Effects, RunError> {
        let state = self.state(index)?;
        if !matches!(state, PartState::Accepted { .. }) {
            return Err(RunError { index, state });
        }
        if !s.status.is_terminal() {
            return Ok(Effects::default());
        }
        let share = self.parts[index as usize].share;
        let refund = crate::order::refund_cap(share, Points::ZERO, s.refund);
        self.states[index as usize] = PartState::Ended { refunded: refund, completed: refund.0 == 0 };
        Ok(Effects { submit: Vec::new(), refund: (refund.0 > 0).then_some((index, refund)) })
    }

    /// An operator settles a part whose outcome is unknown: the panel has it (`accepted`), or
    /// it failed and its share goes back. The run went on when it became unknown.
    pub fn resolve(&mut self, index: u32, accepted: bool) -> Result<Effects, RunError> {
        let state = self.state(index)?;
        let PartState::Unknown { at } = state else { return Err(RunError { index, state }) };
        let i = index as usize;
        if accepted {
            self.states[i] = PartState::Accepted { at };
            return Ok(Effects::default());
        }
        let share = self.parts[i].share;
        self.states[i] = PartState::Ended { refunded: share, completed: false };
        Ok(Effects { submit: Vec::new(), refund: (share.0 > 0).then_some((index, share)) })
    }

    /// The order's status, by [`order_status`].
    pub fn order_status(&self) -> OrderStatus {
        let ends: Vec<Option<PartEnd>> = self
            .states
            .iter()
            .map(|s| match s {
                PartState::Ended { completed: true, .. } => Some(PartEnd::Completed),
                PartState::Ended { .. } => Some(PartEnd::Refunded),
                PartState::Unknown { .. } => Some(PartEnd::Unknown),
                _ => None,
            })
            .collect();
        order_status(&ends)
    }

    /// Everything refunded so far.
    pub fn refunded(&self) -> Points {
        Points(
            self.states
                .iter()
                .map(|s| match s {
                    PartState::Ended { refunded, .. } => refunded.0,
                    _ => 0,
                })
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(service_id: i64, quantity: u64, delay: Option<u32>, repeat: u32) -> Step {
        Step { service_id, quantity, delay_minutes: delay, repeat, name: String::new() }
    }

    #[test]
    fn packages_expand_steps_and_repeats() {
        let parts =
            package_parts(&[step(1, 100, None, 2), step(2, 50, Some(90), 3)], Points(1000)).expect("plan");
        assert_eq!(parts.len(), 5);
        assert_eq!(
            parts.iter().map(|p| (p.step_index, p.repeat_index)).collect::<Vec<_>>(),
            [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
        );
        assert_eq!(parts.iter().map(|p| p.delay_minutes).collect::<Vec<_>>(), [0, 1440, 90, 90, 90]);
        assert_eq!(parts.iter().map(|p| p.share.0).collect::<Vec<_>>(), [200, 200, 200, 200, 200]);
        let odd = package_parts(&[step(1, 1, None, 3)], Points(10)).expect("plan");
        assert_eq!(odd.iter().map(|p| p.share.0).collect::<Vec<_>>(), [3, 3, 4]);
        assert_eq!(package_parts(&[], Points(1)), Err(PlanError::NoSteps));
        assert_eq!(
            package_parts(&[step(1, 0, None, 1)], Points(1)),
            Err(PlanError::ZeroQuantity { step: 0 })
        );
        assert_eq!(package_parts(&[step(1, 1, None, 0)], Points(1)), Err(PlanError::ZeroRepeat { step: 0 }));
        assert_eq!(package_parts(&[step(1, 1, None, 1001)], Points(1)), Err(PlanError::TooManyParts(1001)));
    }

    #[test]
    fn splits_are_daily() {
        let parts = split_parts(7, 3, 100, Points(301)).expect("plan");
        assert_eq!(
            parts.iter().map(|p| (p.quantity, p.delay_minutes, p.share.0)).collect::<Vec<_>>(),
            [(100, 0, 100), (100, 1440, 100), (100, 1440, 101)]
        );
        assert_eq!(split_parts(7, 1, 100, Points(1)), Err(PlanError::SplitDays(1)));
        assert_eq!(split_parts(7, 31, 100, Points(1)), Err(PlanError::SplitDays(31)));
        assert_eq!(next_due(Millis(1_000), 2), Millis(121_000));
    }

    #[test]
    fn ending_refunds_only_the_parts_never_submitted() {
        let parts = package_parts(&[step(1, 100, Some(1), 4)], Points(1000)).expect("plan");
        let mut run = Run::new(parts.clone(), Some(Millis(0)));
        let claimed = run.handle_timeout(Millis(0));
        assert_eq!(claimed.submit, vec![0]);
        let _ = run.submitted(0, Submitted::Accepted, Millis(10)).expect("accepted");
        // The owner may not end a run that reached the upstream.
        assert!(run.clone().end(Ender::Owner).is_err());
        let refunds = run.end(Ender::Operator).expect("operator end");
        assert_eq!(refunds, vec![(1, Points(250)), (2, Points(250)), (3, Points(250))]);
        assert_eq!(run.poll_timeout(), None, "nothing is due after the end");
        assert!(run.handle_timeout(Millis::MAX).submit.is_empty());
        assert_eq!(run.refunded(), Points(750));
        // The accepted part still settles with its own share.
        let e = run.upstream(0, &crate::upstream::smm::Status::Canceled, None).expect("settles");
        assert_eq!(e.refund, Some((0, Points(250))));
        assert_eq!(run.refunded(), Points(1000));

        let mut scheduled = Run::new(parts, Some(Millis(5_000)));
        assert_eq!(scheduled.end(Ender::Owner).expect("owner").iter().map(|r| r.1 .0).sum::<i64>(), 1000);
        assert_eq!(scheduled.order_status(), OrderStatus::Canceled);
    }

    #[test]
    fn stages_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>(), Ok(stage));
        }
        assert!("done".parse::<Stage>().is_err());
        assert_eq!(Stage::of(&PartState::Due { at: Millis(5) }), Stage::Due);
    }

    #[test]
    fn order_status_follows_the_parts() {
        use PartEnd::*;
        assert_eq!(order_status(&[Some(Completed), None]), OrderStatus::Processing);
        assert_eq!(order_status(&[Some(Completed), Some(Unknown)]), OrderStatus::Processing);
        assert_eq!(order_status(&[Some(Completed), Some(Completed)]), OrderStatus::Completed);
        assert_eq!(order_status(&[Some(Completed), Some(Refunded)]), OrderStatus::Partial);
        assert_eq!(order_status(&[Some(Refunded), Some(Refunded)]), OrderStatus::Canceled);
    }
}
