//! Refill and cancel of orders already at the upstream: who may ask, when, and how a refill
//! request moves (§ issue 14).
//!
//! Everything here is pure. The store loads an order's facts and its refill history, asks
//! [`may_refill`] / [`may_cancel`], and writes the request in the same transaction; the answers
//! of the upstream are inputs of [`RefillState::handle`] and [`CancelState::handle`]. No money
//! moves on any of these: a cancel is refunded by the status sync when the upstream reports
//! `Canceled` or `Partial` ([`crate::order::settle`]).
//!
//! # Example
//!
//! ```
//! use snspmt_core::order::OrderStatus;
//! use snspmt_core::refill::{self, CancelRoute, IllegalRefill, OrderFacts, RefillHistory, RefillInput};
//! use snspmt_core::refill::{RefillPolicy, RefillRefusal, RefillState, DAY_MS};
//! use snspmt_core::upstream::smm::RefillStatus;
//! use snspmt_core::Millis;
//!
//! # fn main() -> Result<(), IllegalRefill> {
//! let ended_at = Millis(1_700_000_000_000); // ms since the epoch
//! let order = OrderFacts {
//!     status: OrderStatus::Completed,
//!     has_upstream_id: true,
//!     multipart: false,
//!     service_refill: true,
//!     service_cancel: true,
//!     updated_at: ended_at,
//! };
//! let policy = RefillPolicy::default(); // 30 days, one a day, 3 at most
//! let never = RefillHistory::default();
//! assert_eq!(refill::may_refill(&order, &never, &policy, ended_at.plus_ms(DAY_MS)), Ok(()));
//! assert!(matches!(
//!     refill::may_refill(&order, &never, &policy, ended_at.plus_ms(31 * DAY_MS)),
//!     Err(RefillRefusal::WindowClosed { .. })
//! ));
//! // One still open: the next must wait.
//! let now = ended_at.plus_minutes(60);
//! let history = RefillHistory::of([(RefillState::Pending, ended_at)], now);
//! assert_eq!(refill::may_refill(&order, &history, &policy, now), Err(RefillRefusal::InFlight));
//!
//! // A request's life: the upstream takes it, then reports it done; nothing after that.
//! let state = RefillState::Requested.handle(&RefillInput::Accepted { smm_refill_id: "77".into() })?;
//! let state = state.handle(&RefillInput::Status(RefillStatus::Completed))?;
//! assert_eq!(state, RefillState::Completed);
//! assert!(state.handle(&RefillInput::Status(RefillStatus::Pending)).is_err());
//!
//! // A cancel: local (refunded now) before the upstream has the order, forwarded while it runs.
//! let pending = OrderFacts { status: OrderStatus::Pending, has_upstream_id: false, ..order };
//! assert_eq!(refill::may_cancel(&pending, false), Ok(CancelRoute::Local));
//! let running = OrderFacts { status: OrderStatus::InProgress, ..order };
//! assert_eq!(refill::may_cancel(&running, false), Ok(CancelRoute::Upstream));
//! assert!(refill::may_cancel(&order, false).is_err(), "a completed order is not canceled");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::order::OrderStatus;
use crate::time::Millis;
use crate::upstream::smm::RefillStatus;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Refills of one order at most (failed requests, refused by the upstream, do not count).
pub const MAX_REFILLS_PER_ORDER: u32 = 3;

/// Default refill window, in days after the order ended.
pub const DEFAULT_WINDOW_DAYS: u64 = 30;

/// Default cooldown between two refills of one order, in seconds.
pub const DEFAULT_COOLDOWN_SECS: u64 = 86_400;

/// Where a refill request is, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefillState {
    /// Recorded; the upstream is being asked.
    Requested,
    /// The upstream took it (it gave a refill id) and has not started.
    Pending,
    InProgress,
    Completed,
    /// The upstream looked at it and refused to deliver.
    Rejected,
    /// The upstream refused the request itself (or it could not be sent): there is no refill.
    Failed,
}

impl RefillState {
    pub const ALL: [RefillState; 6] = [
        RefillState::Requested,
        RefillState::Pending,
        RefillState::InProgress,
        RefillState::Completed,
        RefillState::Rejected,
        RefillState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefillState::Requested => "requested",
            RefillState::Pending => "pending",
            RefillState::InProgress => "in_progress",
            RefillState::Completed => "completed",
            RefillState::Rejected => "rejected",
            RefillState::Failed => "failed",
        }
    }

    /// Still moving: counts as the order's refill in flight.
    pub fn is_open(self) -> bool {
        matches!(self, RefillState::Requested | RefillState::Pending | RefillState::InProgress)
    }

    /// Whether the status sync asks the upstream about it (it has an upstream id and is open).
    pub fn is_synced(self) -> bool {
        matches!(self, RefillState::Pending | RefillState::InProgress)
    }

    /// Counts toward [`MAX_REFILLS_PER_ORDER`] and the cooldown: every refill the upstream took.
    pub fn counts(self) -> bool {
        self != RefillState::Failed
    }

    /// The reseller API's name (`Pending`, `In progress`, `Completed`, `Rejected`); a request
    /// still being sent reads `Pending`, a failed one `Rejected`.
    pub fn api_name(self) -> &'static str {
        match self {
            RefillState::Requested | RefillState::Pending => "Pending",
            RefillState::InProgress => "In progress",
            RefillState::Completed => "Completed",
            RefillState::Rejected | RefillState::Failed => "Rejected",
        }
    }

    /// The next state on `input`; an input the state does not take is [`IllegalRefill`].
    ///
    /// - `requested` + the upstream's id → `pending`; + a refusal → `failed`;
    /// - `pending`/`in_progress` + a status → the status's state (`Other` keeps the state);
    /// - an ended refill takes nothing.
    pub fn handle(self, input: &RefillInput) -> Result<RefillState, IllegalRefill> {
        use RefillState::*;
        match (self, input) {
            (Requested, RefillInput::Accepted { .. }) => Ok(Pending),
            (Requested, RefillInput::Refused { .. }) => Ok(Failed),
            (Pending | InProgress, RefillInput::Status(s)) => Ok(match s {
                RefillStatus::Pending => Pending,
                RefillStatus::InProgress => InProgress,
                RefillStatus::Completed => Completed,
                RefillStatus::Rejected => Rejected,
                RefillStatus::Other(_) => self,
            }),
            _ => Err(IllegalRefill { from: self }),
        }
    }
}

impl fmt::Display for RefillState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for RefillState {
    type Err = crate::order::UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RefillState::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| crate::order::UnknownStatus(s.to_owned()))
    }
}

/// What happens to a refill request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefillInput {
    /// The upstream created the refill with this id.
    Accepted { smm_refill_id: String },
    /// The upstream refused the request (or it could not be sent): the reason.
    Refused { error: String },
    /// The upstream's status of the refill.
    Status(RefillStatus),
}

/// An input the refill's state does not take (it ended, or it was answered already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalRefill {
    pub from: RefillState,
}

impl fmt::Display for IllegalRefill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} refill takes no such input", self.from)
    }
}

impl std::error::Error for IllegalRefill {}

/// The server's refill rules (`SNSPMT_REFILL_WINDOW_DAYS`, `SNSPMT_REFILL_COOLDOWN_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefillPolicy {
    /// How long after the order ended (its last update: completion or partial) a refill may be
    /// asked for.
    pub window_ms: i64,
    /// How long after a refill was asked for the next one may be.
    pub cooldown_ms: i64,
    pub max_per_order: u32,
}

impl RefillPolicy {
    /// A policy from the configured days and seconds (saturating).
    pub fn new(window_days: u64, cooldown_secs: u64) -> RefillPolicy {
        let ms = |n: u64, unit: i64| i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(unit);
        RefillPolicy {
            window_ms: ms(window_days, DAY_MS),
            cooldown_ms: ms(cooldown_secs, 1000),
            max_per_order: MAX_REFILLS_PER_ORDER,
        }
    }
}

impl Default for RefillPolicy {
    fn default() -> Self {
        RefillPolicy::new(DEFAULT_WINDOW_DAYS, DEFAULT_COOLDOWN_SECS)
    }
}

/// What the rules need to know about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderFacts {
    pub status: OrderStatus,
    /// The upstream knows it (a single order with a panel order id).
    pub has_upstream_id: bool,
    /// A package or split order: its parts have their own upstream ids.
    pub multipart: bool,
    /// The service's `refill` flag (false when the service is gone).
    pub service_refill: bool,
    /// The service's `cancel` flag (false when the service is gone).
    pub service_cancel: bool,
    /// When the order last changed (for an ended order: when it ended), in ms since the epoch.
    pub updated_at: Millis,
}

/// The order's earlier refills, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefillHistory {
    /// Refills that count ([`RefillState::counts`]).
    pub count: u32,
    /// One of them is still open.
    pub open: bool,
    /// When the latest counted one was asked for (ms since the epoch).
    pub last_requested_at: Option<Millis>,
}

/// How long a refill may stay `requested` (its upstream call under way) before it is taken to
/// be lost with its server: it then neither blocks nor counts, so that a crash between the
/// request and the upstream's answer never locks an order out of refills.
pub const REQUEST_LEASE_MS: i64 = 10 * 60 * 1000;

impl RefillHistory {
    /// The history of refills in `(state, created_at)` form, as of `now`.
    pub fn of(refills: impl IntoIterator<Item = (RefillState, Millis)>, now: Millis) -> RefillHistory {
        let lost =
            |s: RefillState, at: Millis| s == RefillState::Requested && at < now.minus_ms(REQUEST_LEASE_MS);
        let mut h = RefillHistory::default();
        for (state, at) in refills.into_iter().filter(|(s, at)| s.counts() && !lost(*s, *at)) {
            h.count = h.count.saturating_add(1);
            h.open |= state.is_open();
            h.last_requested_at = Some(h.last_requested_at.map_or(at, |l| l.max(at)));
        }
        h
    }
}

/// Why a refill may not be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefillRefusal {
    /// The service has no refill.
    ServiceHasNoRefill,
    /// The order is not `completed` or `partial`, or the upstream does not know it (a package
    /// or split order, or one never accepted).
    OrderNotRefillable(OrderStatus),
    /// The window closed at this time (ms since the epoch).
    WindowClosed { closed_at: Millis },
    /// A refill of this order is still running.
    InFlight,
    /// The order had its refills.
    LimitReached { max: u32 },
    /// Too soon after the last refill: allowed again at this time (ms since the epoch).
    Cooldown { until: Millis },
}

impl RefillRefusal {
    /// A stable code for the site API.
    pub fn code(self) -> &'static str {
        match self {
            RefillRefusal::ServiceHasNoRefill | RefillRefusal::OrderNotRefillable(_) => {
                "refill_not_available"
            }
            RefillRefusal::WindowClosed { .. } => "refill_window_closed",
            RefillRefusal::InFlight => "refill_in_progress",
            RefillRefusal::LimitReached { .. } => "refill_limit_reached",
            RefillRefusal::Cooldown { .. } => "refill_cooldown",
        }
    }

    /// The reseller API's short English text.
    pub fn api_text(self) -> &'static str {
        match self {
            RefillRefusal::ServiceHasNoRefill | RefillRefusal::OrderNotRefillable(_) => {
                "Refill is not available for this order"
            }
            RefillRefusal::WindowClosed { .. } => "Refill period has expired",
            RefillRefusal::InFlight => "Refill is already in progress",
            RefillRefusal::LimitReached { .. } => "Refill limit reached",
            RefillRefusal::Cooldown { .. } => "Refill is not available yet, try again later",
        }
    }
}

impl fmt::Display for RefillRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefillRefusal::ServiceHasNoRefill => f.write_str("this service has no refill"),
            RefillRefusal::OrderNotRefillable(s) => {
                write!(
                    f,
                    "only a completed or partial order at the upstream can be refilled (this one is {s})"
                )
            }
            RefillRefusal::WindowClosed { .. } => f.write_str("the refill period of this order has ended"),
            RefillRefusal::InFlight => f.write_str("a refill of this order is still running"),
            RefillRefusal::LimitReached { max } => write!(f, "an order has at most {max} refills"),
            RefillRefusal::Cooldown { .. } => f.write_str("too soon after the last refill of this order"),
        }
    }
}

impl std::error::Error for RefillRefusal {}

/// Whether a refill of the order may be asked for at `now`, checked in this order: the
/// service's flag, the order's state (completed or partial, a single order the upstream
/// knows), the window (from `updated_at`, inclusive), one refill in flight, the maximum, the
/// cooldown (from the last counted refill, inclusive).
pub fn may_refill(
    order: &OrderFacts,
    history: &RefillHistory,
    policy: &RefillPolicy,
    now: Millis,
) -> Result<(), RefillRefusal> {
    if !order.service_refill {
        return Err(RefillRefusal::ServiceHasNoRefill);
    }
    let ended = matches!(order.status, OrderStatus::Completed | OrderStatus::Partial);
    if !ended || !order.has_upstream_id || order.multipart {
        return Err(RefillRefusal::OrderNotRefillable(order.status));
    }
    let closed_at = order.updated_at.plus_ms(policy.window_ms);
    if now > closed_at {
        return Err(RefillRefusal::WindowClosed { closed_at });
    }
    if history.open {
        return Err(RefillRefusal::InFlight);
    }
    if history.count >= policy.max_per_order {
        return Err(RefillRefusal::LimitReached { max: policy.max_per_order });
    }
    if let Some(last) = history.last_requested_at {
        let until = last.plus_ms(policy.cooldown_ms);
        if now < until {
            return Err(RefillRefusal::Cooldown { until });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cancel
// ---------------------------------------------------------------------------------------------

/// How an owner's cancel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRoute {
    /// Not at the upstream yet (`pending`, `scheduled`): canceled here, refunded in full now.
    Local,
    /// At the upstream: the cancel is forwarded; the refund waits for the upstream's status.
    Upstream,
}

/// Why a cancel may not be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRefusal {
    /// The service has no cancel.
    ServiceHasNoCancel,
    /// The order has ended, or is in a state no cancel reaches (`submitting`, `unknown`).
    OrderNotCancelable(OrderStatus),
    /// A package or split order under way: its parts have their own upstream ids.
    MultiPart,
    /// A cancel of this order was forwarded already and the upstream has not answered with a
    /// status yet.
    AlreadyRequested,
}

impl CancelRefusal {
    pub fn code(self) -> &'static str {
        match self {
            CancelRefusal::ServiceHasNoCancel | CancelRefusal::OrderNotCancelable(_) => {
                "cancel_not_available"
            }
            CancelRefusal::MultiPart => "cancel_multipart",
            CancelRefusal::AlreadyRequested => "cancel_already_requested",
        }
    }

    pub fn api_text(self) -> &'static str {
        match self {
            CancelRefusal::AlreadyRequested => "Cancel is already requested",
            _ => "Cancel is not available for this order",
        }
    }
}

impl fmt::Display for CancelRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelRefusal::ServiceHasNoCancel => f.write_str("this service has no cancel"),
            CancelRefusal::OrderNotCancelable(s) => write!(f, "an order that is {s} cannot be canceled"),
            CancelRefusal::MultiPart => f.write_str(
                "a package or split order under way cannot be canceled: its parts are separate upstream orders",
            ),
            CancelRefusal::AlreadyRequested => f.write_str("a cancel of this order was requested already"),
        }
    }
}

impl std::error::Error for CancelRefusal {}

/// How (and whether) an owner's cancel of the order goes: `pending`/`scheduled` are canceled
/// here whatever the service says; an order at the upstream needs the service's `cancel`, a
/// single order with an upstream id, running (`in_progress`), and no cancel already forwarded.
pub fn may_cancel(order: &OrderFacts, open_request: bool) -> Result<CancelRoute, CancelRefusal> {
    match order.status {
        OrderStatus::Pending | OrderStatus::Scheduled => return Ok(CancelRoute::Local),
        OrderStatus::Processing => return Err(CancelRefusal::MultiPart),
        _ => {}
    }
    if order.status != OrderStatus::InProgress || !order.has_upstream_id {
        return Err(CancelRefusal::OrderNotCancelable(order.status));
    }
    if order.multipart {
        return Err(CancelRefusal::MultiPart);
    }
    if !order.service_cancel {
        return Err(CancelRefusal::ServiceHasNoCancel);
    }
    if open_request {
        return Err(CancelRefusal::AlreadyRequested);
    }
    Ok(CancelRoute::Upstream)
}

/// A forwarded cancel, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CancelState {
    /// Recorded; the upstream is being asked.
    Requested,
    /// The upstream took it; the status sync will see `Canceled` or `Partial` (or `Completed`
    /// if it was too late).
    Accepted,
    /// The upstream refused it (or it could not be sent): the order runs on.
    Failed,
}

impl CancelState {
    pub const ALL: [CancelState; 3] = [CancelState::Requested, CancelState::Accepted, CancelState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            CancelState::Requested => "requested",
            CancelState::Accepted => "accepted",
            CancelState::Failed => "failed",
        }
    }

    /// Blocks another cancel of the same order.
    pub fn is_open(self) -> bool {
        self != CancelState::Failed
    }

    /// `requested` + the upstream's answer → `accepted` or `failed`; nothing else moves.
    pub fn handle(self, accepted: bool) -> Result<CancelState, IllegalCancel> {
        match self {
            CancelState::Requested if accepted => Ok(CancelState::Accepted),
            CancelState::Requested => Ok(CancelState::Failed),
            from => Err(IllegalCancel { from }),
        }
    }
}

impl fmt::Display for CancelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for CancelState {
    type Err = crate::order::UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CancelState::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| crate::order::UnknownStatus(s.to_owned()))
    }
}

/// A cancel answered twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalCancel {
    pub from: CancelState,
}

impl fmt::Display for IllegalCancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} cancel takes no answer", self.from)
    }
}

impl std::error::Error for IllegalCancel {}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = Millis(1_800_000_000_000);

    fn facts(status: OrderStatus) -> OrderFacts {
        OrderFacts {
            status,
            has_upstream_id: true,
            multipart: false,
            service_refill: true,
            service_cancel: true,
            updated_at: NOW.minus_ms(DAY_MS),
        }
    }

    #[test]
    fn refill_rules_table() {
        let p = RefillPolicy::new(30, 3600);
        let fresh = RefillHistory::default();
        let ok = facts(OrderStatus::Completed);
        assert_eq!(may_refill(&ok, &fresh, &p, NOW), Ok(()));
        assert_eq!(may_refill(&facts(OrderStatus::Partial), &fresh, &p, NOW), Ok(()));
        let cases: Vec<(OrderFacts, RefillHistory, Millis, RefillRefusal)> = vec![
            (OrderFacts { service_refill: false, ..ok }, fresh, NOW, RefillRefusal::ServiceHasNoRefill),
            (
                facts(OrderStatus::InProgress),
                fresh,
                NOW,
                RefillRefusal::OrderNotRefillable(OrderStatus::InProgress),
            ),
            (
                facts(OrderStatus::Canceled),
                fresh,
                NOW,
                RefillRefusal::OrderNotRefillable(OrderStatus::Canceled),
            ),
            (
                OrderFacts { has_upstream_id: false, ..ok },
                fresh,
                NOW,
                RefillRefusal::OrderNotRefillable(OrderStatus::Completed),
            ),
            (
                OrderFacts { multipart: true, ..ok },
                fresh,
                NOW,
                RefillRefusal::OrderNotRefillable(OrderStatus::Completed),
            ),
            (
                ok,
                fresh,
                ok.updated_at.plus_ms(30 * DAY_MS + 1),
                RefillRefusal::WindowClosed { closed_at: ok.updated_at.plus_ms(30 * DAY_MS) },
            ),
            (
                ok,
                RefillHistory { count: 1, open: true, last_requested_at: Some(Millis(0)) },
                NOW,
                RefillRefusal::InFlight,
            ),
            (
                ok,
                RefillHistory { count: 3, open: false, last_requested_at: Some(Millis(0)) },
                NOW,
                RefillRefusal::LimitReached { max: 3 },
            ),
            (
                ok,
                RefillHistory { count: 1, open: false, last_requested_at: Some(NOW.minus_ms(1000)) },
                NOW,
                RefillRefusal::Cooldown { until: NOW.plus_ms(3_600_000 - 1000) },
            ),
        ];
        for (f, h, now, want) in cases {
            assert_eq!(may_refill(&f, &h, &p, now), Err(want), "{f:?} {h:?}");
        }
        // Boundaries are inclusive: the last moment of the window, the first after the cooldown.
        assert_eq!(may_refill(&ok, &fresh, &p, ok.updated_at.plus_ms(30 * DAY_MS)), Ok(()));
        let h = RefillHistory { count: 2, open: false, last_requested_at: Some(NOW.minus_ms(3_600_000)) };
        assert_eq!(may_refill(&ok, &h, &p, NOW), Ok(()));
    }

    #[test]
    fn history_counts_what_the_upstream_took() {
        let h = RefillHistory::of(
            [
                (RefillState::Failed, Millis(50)),
                (RefillState::Completed, Millis(10)),
                (RefillState::Rejected, Millis(20)),
                (RefillState::Failed, Millis(90)),
            ],
            Millis(100),
        );
        assert_eq!(h, RefillHistory { count: 2, open: false, last_requested_at: Some(Millis(20)) });
        let h = RefillHistory::of(
            [(RefillState::Completed, Millis(10)), (RefillState::Requested, Millis(30))],
            Millis(100),
        );
        assert_eq!(h, RefillHistory { count: 2, open: true, last_requested_at: Some(Millis(30)) });
        assert_eq!(RefillHistory::of([], Millis(100)), RefillHistory::default());
        // A request whose answer never came (its server died) stops blocking after the lease.
        let stuck = [(RefillState::Requested, Millis(1_000))];
        assert!(RefillHistory::of(stuck, Millis(1_000 + REQUEST_LEASE_MS)).open);
        assert_eq!(RefillHistory::of(stuck, Millis(1_001 + REQUEST_LEASE_MS)), RefillHistory::default());
        // An answered one keeps counting whatever its age.
        assert!(RefillHistory::of([(RefillState::Pending, Millis(0))], Millis::MAX).open);
    }

    #[test]
    fn refill_machine() {
        use RefillState::*;
        let accepted = RefillInput::Accepted { smm_refill_id: "7".into() };
        let refused = RefillInput::Refused { error: "no".into() };
        let st = |s: RefillStatus| RefillInput::Status(s);
        assert_eq!(Requested.handle(&accepted), Ok(Pending));
        assert_eq!(Requested.handle(&refused), Ok(Failed));
        assert_eq!(Requested.handle(&st(RefillStatus::Completed)), Err(IllegalRefill { from: Requested }));
        assert_eq!(Pending.handle(&st(RefillStatus::InProgress)), Ok(InProgress));
        assert_eq!(InProgress.handle(&st(RefillStatus::Completed)), Ok(Completed));
        assert_eq!(Pending.handle(&st(RefillStatus::Rejected)), Ok(Rejected));
        assert_eq!(InProgress.handle(&st(RefillStatus::Other("Queued".into()))), Ok(InProgress));
        assert_eq!(Pending.handle(&accepted), Err(IllegalRefill { from: Pending }));
        for end in [Completed, Rejected, Failed] {
            for input in [&accepted, &refused, &st(RefillStatus::Pending)] {
                assert_eq!(end.handle(input), Err(IllegalRefill { from: end }));
            }
            assert!(!end.is_open() && !end.is_synced());
        }
        for s in RefillState::ALL {
            assert_eq!(s.as_str().parse::<RefillState>(), Ok(s));
        }
        assert_eq!(Requested.api_name(), "Pending");
        assert_eq!(Failed.api_name(), "Rejected");
        assert_eq!(InProgress.api_name(), "In progress");
    }

    #[test]
    fn cancel_rules_table() {
        use OrderStatus::*;
        assert_eq!(may_cancel(&facts(Pending), false), Ok(CancelRoute::Local));
        assert_eq!(
            may_cancel(&OrderFacts { service_cancel: false, ..facts(Scheduled) }, true),
            Ok(CancelRoute::Local)
        );
        assert_eq!(may_cancel(&facts(InProgress), false), Ok(CancelRoute::Upstream));
        assert_eq!(may_cancel(&facts(InProgress), true), Err(CancelRefusal::AlreadyRequested));
        assert_eq!(
            may_cancel(&OrderFacts { service_cancel: false, ..facts(InProgress) }, false),
            Err(CancelRefusal::ServiceHasNoCancel)
        );
        assert_eq!(
            may_cancel(&OrderFacts { multipart: true, ..facts(Processing) }, false),
            Err(CancelRefusal::MultiPart)
        );
        assert_eq!(
            may_cancel(&OrderFacts { has_upstream_id: false, ..facts(InProgress) }, false),
            Err(CancelRefusal::OrderNotCancelable(InProgress))
        );
        for s in [Submitting, Unknown, Partial, Completed, Canceled, Failed] {
            assert_eq!(may_cancel(&facts(s), false), Err(CancelRefusal::OrderNotCancelable(s)), "{s}");
        }
    }

    #[test]
    fn cancel_machine() {
        assert_eq!(CancelState::Requested.handle(true), Ok(CancelState::Accepted));
        assert_eq!(CancelState::Requested.handle(false), Ok(CancelState::Failed));
        for s in [CancelState::Accepted, CancelState::Failed] {
            assert_eq!(s.handle(true), Err(IllegalCancel { from: s }));
        }
        assert!(CancelState::Accepted.is_open() && !CancelState::Failed.is_open());
        for s in CancelState::ALL {
            assert_eq!(s.as_str().parse::<CancelState>(), Ok(s));
        }
    }

    #[test]
    fn policy_saturates() {
        let p = RefillPolicy::new(u64::MAX, u64::MAX);
        assert_eq!((p.window_ms, p.cooldown_ms), (i64::MAX, i64::MAX));
        let f = facts(OrderStatus::Completed);
        assert_eq!(may_refill(&f, &RefillHistory::default(), &p, Millis::MAX), Ok(()));
    }
}
