//! Point purchases (§10): their statuses, the amount rules, and how a KCP approval answer
//! settles a card purchase (protocols §2.5, §2.8).
//!
//! Everything here is pure: the store moves a purchase between statuses in one transaction
//! (`kcp_registered → approving` with one row affected, so only one caller approves), and the
//! http crate talks to KCP through [`crate::upstream::kcp`].
//!
//! # Example
//!
//! ```
//! use snspmt_core::purchase::{self, ApprovalOutcome, PurchaseStatus, Transition};
//! use snspmt_core::upstream::kcp;
//! use snspmt_core::Points;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (points, price) = purchase::validate_amounts(10_000, 10_000)?;
//! assert_eq!(purchase::validate_amounts(10_000, 9_000).unwrap_err().code, "amount_price_mismatch");
//!
//! // A bank transfer: the operator approves it once, and the approval credits its points.
//! let approval = Transition::bank_decision(true);
//! let credit = approval.credit(42, points).ok_or("an approval credits")?;
//! assert_eq!((credit.amount, credit.event_ref.as_str()), (Points(10_000), "purchase:42"));
//! assert!(Transition::new(PurchaseStatus::Approved, PurchaseStatus::Rejected).is_err());
//!
//! // A card payment: KCP's approval answer settles it.
//! let body = br#"{"res_cd": "0000", "res_msg": "OK", "tno": "20261130000001", "amount": "10000"}"#;
//! let answer = kcp::parse_approve(body);
//! let outcome = purchase::approval_outcome(price, answer.as_ref());
//! assert_eq!(outcome, ApprovalOutcome::Approved { tno: "20261130000001".into(), amount: 10_000 });
//! assert_eq!(outcome.status(), PurchaseStatus::Approved);
//! // Another amount is never credited.
//! let short = kcp::parse_approve(br#"{"res_cd": "0000", "tno": "20261130000002", "amount": 9000}"#);
//! assert_eq!(purchase::approval_outcome(price, short.as_ref()).status(), PurchaseStatus::AmountMismatch);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ledger::LedgerKind;
use crate::money::{Points, Won};
use crate::schedule::Millis;
use crate::upstream::kcp::{self, ApproveResponse, ParseError};
use crate::validate::Invalid;

/// Where a purchase is, listed in lifecycle order.
///
/// - Bank transfer: `Pending` → `Approved` | `Rejected` (the admin decides once).
/// - KCP: `KcpRegistered` → `Approving` → `Approved` | `Failed` | `AmountMismatch` |
///   `ApprovalUnknown`; `KcpRegistered` → `Canceled` when the user cancels (`res_cd` 3001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PurchaseStatus {
    /// A bank transfer waiting for the admin.
    Pending,
    /// Registered with KCP; the user is in (or left) the payment window.
    KcpRegistered,
    /// One caller won the right to approve and may be talking to KCP right now (in a task of
    /// its own, whatever the client's connection does). A purchase that stays here longer than
    /// an approval can take ([`approval_stale_after_ms`]: a crash mid-call) is listed for the
    /// admin and settled by an operator; it is never approved twice.
    Approving,
    /// Paid and credited.
    Approved,
    /// A bank transfer the admin refused.
    Rejected,
    /// KCP declined the approval; nothing was charged.
    Failed,
    /// KCP approved another amount (or gave no `tno`): nothing credited, to be cancelled at KCP
    /// and checked by the admin.
    AmountMismatch,
    /// The approval's answer was lost or unreadable: KCP may have charged. Settled by an
    /// operator with what KCP's admin shows ([`operator_settlement`]); never marked failed
    /// automatically.
    ApprovalUnknown,
    /// The user cancelled in KCP's payment window.
    Canceled,
}

impl PurchaseStatus {
    pub const ALL: [PurchaseStatus; 9] = [
        PurchaseStatus::Pending,
        PurchaseStatus::KcpRegistered,
        PurchaseStatus::Approving,
        PurchaseStatus::Approved,
        PurchaseStatus::Rejected,
        PurchaseStatus::Failed,
        PurchaseStatus::AmountMismatch,
        PurchaseStatus::ApprovalUnknown,
        PurchaseStatus::Canceled,
    ];

    /// The snake_case name, as stored and as the API shows it. [`FromStr`] reads it back.
    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseStatus::Pending => "pending",
            PurchaseStatus::KcpRegistered => "kcp_registered",
            PurchaseStatus::Approving => "approving",
            PurchaseStatus::Approved => "approved",
            PurchaseStatus::Rejected => "rejected",
            PurchaseStatus::Failed => "failed",
            PurchaseStatus::AmountMismatch => "amount_mismatch",
            PurchaseStatus::ApprovalUnknown => "approval_unknown",
            PurchaseStatus::Canceled => "canceled",
        }
    }

    /// Listed for the admin: an approval that never finished (`Approving`), one for the wrong
    /// amount (`AmountMismatch`), one whose answer was lost (`ApprovalUnknown`). Money may have
    /// moved at KCP without points being credited.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            PurchaseStatus::Approving | PurchaseStatus::AmountMismatch | PurchaseStatus::ApprovalUnknown
        )
    }

    /// Nothing happens to the purchase any more: `Approved`, `Rejected`, `Failed`, `Canceled`.
    /// The statuses that need attention are not final: an admin still resolves them.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PurchaseStatus::Approved
                | PurchaseStatus::Rejected
                | PurchaseStatus::Failed
                | PurchaseStatus::Canceled
        )
    }
}

impl fmt::Display for PurchaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A purchase status name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPurchaseStatus(pub String);

impl fmt::Display for UnknownPurchaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown purchase status {:?}", self.0)
    }
}

impl std::error::Error for UnknownPurchaseStatus {}

impl FromStr for PurchaseStatus {
    type Err = UnknownPurchaseStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PurchaseStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownPurchaseStatus(s.to_owned()))
    }
}

/// How the customer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PurchaseMethod {
    /// A bank transfer the admin confirms.
    Bank,
    /// NHN KCP (card and the other KCP methods).
    Kcp,
}

impl PurchaseMethod {
    pub const ALL: [PurchaseMethod; 2] = [PurchaseMethod::Bank, PurchaseMethod::Kcp];

    /// `"bank"` or `"kcp"`, as stored and as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseMethod::Bank => "bank",
            PurchaseMethod::Kcp => "kcp",
        }
    }

    /// The status a new purchase starts in: a bank transfer waits for the admin (`Pending`), a
    /// KCP purchase is registered with KCP (`KcpRegistered`).
    pub fn initial_status(self) -> PurchaseStatus {
        match self {
            PurchaseMethod::Bank => PurchaseStatus::Pending,
            PurchaseMethod::Kcp => PurchaseStatus::KcpRegistered,
        }
    }
}

impl fmt::Display for PurchaseMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A purchase method name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPurchaseMethod(pub String);

impl fmt::Display for UnknownPurchaseMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown purchase method {:?}", self.0)
    }
}

impl std::error::Error for UnknownPurchaseMethod {}

impl FromStr for PurchaseMethod {
    type Err = UnknownPurchaseMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PurchaseMethod::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownPurchaseMethod(s.to_owned()))
    }
}

/// The most points one purchase may buy.
pub const MAX_PURCHASE_AMOUNT: i64 = 1_000_000;
/// The highest price one purchase may have, in KRW.
pub const MAX_PURCHASE_PRICE: i64 = 10_000_000;

/// Checks a purchase request (§10): 1 ≤ `amount` ≤ 1,000,000 points, 1 ≤ `price` ≤
/// 10,000,000 KRW, and `amount == price` (1 point = 1 KRW). Checked in that order; the first
/// failure is the error: `("amount", "invalid_amount")`, `("price", "invalid_price")`,
/// `("price", "amount_price_mismatch")`.
pub fn validate_amounts(amount: i64, price: i64) -> Result<(Points, Won), Invalid> {
    if !(1..=MAX_PURCHASE_AMOUNT).contains(&amount) {
        return Err(Invalid {
            field: "amount",
            code: "invalid_amount",
            message: "amount must be between 1 and 1000000",
        });
    }
    if !(1..=MAX_PURCHASE_PRICE).contains(&price) {
        return Err(Invalid {
            field: "price",
            code: "invalid_price",
            message: "price must be between 1 and 10000000",
        });
    }
    if amount != price {
        return Err(Invalid {
            field: "price",
            code: "amount_price_mismatch",
            message: "price must equal amount (1 point = 1 KRW)",
        });
    }
    Ok((Points(amount), Won(price)))
}

/// A checked move of a purchase from one status to another. The store applies it with a
/// conditional update (`… WHERE status = from`), so of concurrent movers only one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transition {
    pub from: PurchaseStatus,
    pub to: PurchaseStatus,
}

/// A move the purchase lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: PurchaseStatus,
    pub to: PurchaseStatus,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a purchase cannot go from {} to {}", self.from, self.to)
    }
}

impl std::error::Error for IllegalTransition {}

impl Transition {
    /// `from → to` if the lifecycle allows it (see [`PurchaseStatus`]):
    /// - `pending` → `approved` | `rejected`;
    /// - `kcp_registered` → `approving` | `failed` | `canceled`;
    /// - `approving` → `approved` | `failed` | `amount_mismatch` | `approval_unknown`, or back
    ///   to `kcp_registered` (KCP declined what an anonymous return asked for);
    /// - `approval_unknown` → `approved` | `failed` (an operator's settlement, see
    ///   [`operator_settlement`]).
    pub fn new(from: PurchaseStatus, to: PurchaseStatus) -> Result<Transition, IllegalTransition> {
        use PurchaseStatus::*;
        match (from, to) {
            (Pending, Approved | Rejected)
            | (KcpRegistered, Approving | Failed | Canceled)
            | (Approving, Approved | Failed | AmountMismatch | ApprovalUnknown | KcpRegistered)
            | (ApprovalUnknown, Approved | Failed) => Ok(Transition { from, to }),
            _ => Err(IllegalTransition { from, to }),
        }
    }

    /// The operator's decision on a `pending` bank transfer: `approved` or `rejected`.
    pub fn bank_decision(approve: bool) -> Transition {
        let to = if approve { PurchaseStatus::Approved } else { PurchaseStatus::Rejected };
        Transition { from: PurchaseStatus::Pending, to }
    }

    /// `kcp_registered` → `approving`: the caller that wins it talks to KCP.
    pub fn begin_approval() -> Transition {
        Transition { from: PurchaseStatus::KcpRegistered, to: PurchaseStatus::Approving }
    }

    /// A `kcp_registered` purchase ending without an approval: only `failed` (KCP refused the
    /// registration) or `canceled` (the user canceled in KCP's window).
    pub fn end_registration(to: PurchaseStatus) -> Result<Transition, IllegalTransition> {
        match to {
            PurchaseStatus::Failed | PurchaseStatus::Canceled => {
                Transition::new(PurchaseStatus::KcpRegistered, to)
            }
            _ => Err(IllegalTransition { from: PurchaseStatus::KcpRegistered, to }),
        }
    }

    /// When the purchase was paid: `now` for a move to `approved`, else none.
    pub fn approved_at(self, now: Millis) -> Option<Millis> {
        (self.to == PurchaseStatus::Approved).then_some(now)
    }

    /// The ledger credit of purchase `purchase_id` of `amount` points making this move: its
    /// points when it becomes `approved`, nothing otherwise.
    pub fn credit(self, purchase_id: i64, amount: Points) -> Option<PurchaseCredit> {
        (self.to == PurchaseStatus::Approved).then(|| PurchaseCredit::new(purchase_id, amount))
    }
}

/// The points ledger entry that credits an approved purchase. Its `event_ref` is unique in the
/// ledger, so a purchase is credited at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseCredit {
    pub kind: LedgerKind,
    pub amount: Points,
    pub reference: String,
    pub event_ref: String,
    pub description: String,
}

impl PurchaseCredit {
    /// Purchase `purchase_id`'s `amount` points: ledger kind `purchase`, reference and event
    /// `purchase:<id>`, description `포인트 구매 #<id>`.
    pub fn new(purchase_id: i64, amount: Points) -> PurchaseCredit {
        PurchaseCredit {
            kind: LedgerKind::Purchase,
            amount,
            reference: format!("purchase:{purchase_id}"),
            event_ref: format!("purchase:{purchase_id}"),
            description: format!("포인트 구매 #{purchase_id}"),
        }
    }
}

/// How an approval answer settles a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum ApprovalOutcome {
    /// Paid the expected amount: store `tno` (unique) and credit the points, in one
    /// transaction.
    Approved { tno: String, amount: i64 },
    /// KCP declined: nothing was charged; store the code and message.
    Declined { code: String, message: String },
    /// KCP declined an approval that the anonymous return asked for: nothing was charged, and
    /// the purchase goes back to `kcp_registered`, payable — anyone who knows an `ordr_idxx`
    /// can post a return with made-up `enc_data`, and must not end someone else's purchase.
    /// Only its owner's own approval (`/approve`, signed in) ends a purchase as `failed`.
    Refused { code: String, message: String },
    /// KCP approved, but not what we expected (another or no amount, no `tno`, another order):
    /// credit nothing, cancel at KCP when `tno` is known, alert.
    AmountMismatch { tno: Option<String>, amount: Option<i64> },
    /// The answer could not be read: KCP may have charged. Neither credit nor fail.
    Unknown { reason: String },
}

impl ApprovalOutcome {
    /// This outcome of an approval the anonymous KCP return asked for: a decline leaves the
    /// purchase payable ([`ApprovalOutcome::Refused`]); every other outcome is KCP's word on a
    /// payment and stands.
    pub fn via_anonymous_return(self) -> ApprovalOutcome {
        match self {
            ApprovalOutcome::Declined { code, message } => ApprovalOutcome::Refused { code, message },
            other => other,
        }
    }

    /// The purchase status this outcome leads to.
    pub fn status(&self) -> PurchaseStatus {
        match self {
            ApprovalOutcome::Approved { .. } => PurchaseStatus::Approved,
            ApprovalOutcome::Declined { .. } => PurchaseStatus::Failed,
            ApprovalOutcome::Refused { .. } => PurchaseStatus::KcpRegistered,
            ApprovalOutcome::AmountMismatch { .. } => PurchaseStatus::AmountMismatch,
            ApprovalOutcome::Unknown { .. } => PurchaseStatus::ApprovalUnknown,
        }
    }

    /// What settling an `approving` purchase with this outcome at `now` writes: the move, the
    /// `tno`, the approved amount, KCP's code and message, and when it was paid.
    pub fn settlement(&self, now: Millis) -> ApprovalSettlement {
        let transition = Transition { from: PurchaseStatus::Approving, to: self.status() };
        let (tno, approved_amount, res_cd, res_msg) = match self {
            ApprovalOutcome::Approved { tno, amount } => {
                (Some(tno.clone()), Some(*amount), Some(kcp::RES_OK.to_owned()), None)
            }
            ApprovalOutcome::Declined { code, message } | ApprovalOutcome::Refused { code, message } => {
                (None, None, Some(code.clone()), Some(message.clone()))
            }
            ApprovalOutcome::AmountMismatch { tno, amount } => (
                tno.clone(),
                *amount,
                Some(kcp::RES_OK.to_owned()),
                Some("approved amount differs from the price".to_owned()),
            ),
            ApprovalOutcome::Unknown { reason } => (None, None, None, Some(reason.clone())),
        };
        ApprovalSettlement {
            transition,
            tno,
            approved_amount,
            res_cd,
            res_msg,
            approved_at: transition.approved_at(now),
        }
    }
}

/// The columns an approval outcome (or an operator's settlement) writes on its purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ApprovalSettlement {
    /// From `approving` (KCP's answer), or from `approving`/`approval_unknown` (an operator).
    pub transition: Transition,
    pub tno: Option<String>,
    pub approved_amount: Option<i64>,
    /// KCP's code and message; `None` keeps what the purchase has.
    pub res_cd: Option<String>,
    pub res_msg: Option<String>,
    pub approved_at: Option<Millis>,
}

/// What an operator found in KCP's admin for a purchase whose approval never answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorOutcome {
    /// KCP charged our price under transaction number `tno`: credit the points, once.
    Approved { tno: String },
    /// KCP holds no payment for it (or it was cancelled there): nothing is credited. KCP's
    /// `tno` is recorded when there is one.
    Failed { tno: Option<String> },
}

/// Why an operator cannot settle a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleRefusal {
    /// It ended already (approved, failed, rejected, canceled): nothing to settle.
    AlreadyProcessed,
    /// Its approval may still be talking to KCP (`approving` for less than
    /// [`approval_stale_after_ms`]).
    InProgress,
    /// It does not wait for an approval's outcome: a bank transfer, a registration nobody
    /// paid, an approval for another amount.
    NotSettleable,
    /// `approved` without KCP's transaction number.
    MissingTno,
}

impl SettleRefusal {
    /// The stable code clients see.
    pub fn code(self) -> &'static str {
        match self {
            SettleRefusal::AlreadyProcessed => "already_processed",
            SettleRefusal::InProgress => "approval_in_progress",
            SettleRefusal::NotSettleable => "not_settleable",
            SettleRefusal::MissingTno => "missing_tno",
        }
    }
}

/// Extra time, beyond two upstream timeouts, before an `approving` purchase counts as stale.
pub const APPROVAL_STALE_MARGIN_MS: i64 = 60_000;

/// How long an approval can be talking to KCP, with upstream calls timing out after
/// `upstream_timeout_ms` (connect and read): two timeouts and [`APPROVAL_STALE_MARGIN_MS`].
/// An `approving` purchase older than this was left by a crash: no call is running for it.
pub fn approval_stale_after_ms(upstream_timeout_ms: u64) -> i64 {
    i64::try_from(upstream_timeout_ms).unwrap_or(i64::MAX / 4).saturating_mul(2) + APPROVAL_STALE_MARGIN_MS
}

/// An operator's settlement of purchase in `status` (`approving` since `approving_at`, priced
/// `price`) at `now`, with `outcome`. Allowed:
///
/// - from `approval_unknown`, to `approved` or `failed`;
/// - from `approving` once it is stale (`now - approving_at >= stale_after_ms`), likewise;
///
/// `approved` stores the `tno` (unique: one credit per KCP transaction) and credits `price`
/// points; `failed` credits nothing. KCP's earlier code and message are kept. The store
/// applies it only while the purchase is still in its `from` status.
pub fn operator_settlement(
    status: PurchaseStatus,
    approving_at: Option<Millis>,
    price: Won,
    outcome: &OperatorOutcome,
    now: Millis,
    stale_after_ms: i64,
) -> Result<ApprovalSettlement, SettleRefusal> {
    use PurchaseStatus::*;
    match status {
        ApprovalUnknown => {}
        Approving if approving_at.is_none_or(|at| now.ms_since(at) >= stale_after_ms) => {}
        Approving => return Err(SettleRefusal::InProgress),
        s if s.is_final() => return Err(SettleRefusal::AlreadyProcessed),
        _ => return Err(SettleRefusal::NotSettleable),
    }
    let clean = |t: &str| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
    let (to, tno) = match outcome {
        OperatorOutcome::Approved { tno } => (Approved, Some(clean(tno).ok_or(SettleRefusal::MissingTno)?)),
        OperatorOutcome::Failed { tno } => (Failed, tno.as_deref().and_then(clean)),
    };
    let transition = Transition { from: status, to };
    Ok(ApprovalSettlement {
        transition,
        tno,
        approved_amount: (to == Approved).then_some(price.0),
        res_cd: None,
        res_msg: None,
        approved_at: transition.approved_at(now),
    })
}

/// The parsed approval answer, or why it could not be parsed.
pub type ApprovalAnswer<'a> = Result<&'a ApproveResponse, &'a ParseError>;

/// Settles a purchase whose price in our database is `expected` on KCP's approval answer:
///
/// - `res_cd` `"0000"`, `amount == expected` and a `tno` → [`ApprovalOutcome::Approved`];
/// - `res_cd` `"0000"` with another or no amount, or without a `tno` →
///   [`ApprovalOutcome::AmountMismatch`];
/// - any other `res_cd` → [`ApprovalOutcome::Declined`] with KCP's code and message;
/// - a [`ParseError`] → [`ApprovalOutcome::Unknown`]: the approval may have happened.
///
/// See [`approval_outcome_for_order`] to also check KCP's `order_no`.
pub fn approval_outcome(expected: Won, answer: ApprovalAnswer<'_>) -> ApprovalOutcome {
    let r = match answer {
        Ok(r) => r,
        Err(e) => return ApprovalOutcome::Unknown { reason: e.to_string() },
    };
    if r.res_cd.trim() != kcp::RES_OK {
        return ApprovalOutcome::Declined { code: r.res_cd.trim().to_owned(), message: r.res_msg.clone() };
    }
    let tno = r.tno.as_deref().map(str::trim).filter(|t| !t.is_empty());
    match (tno, r.amount) {
        (Some(tno), Some(amount)) if amount == expected.0 => {
            ApprovalOutcome::Approved { tno: tno.to_owned(), amount }
        }
        _ => ApprovalOutcome::AmountMismatch { tno: tno.map(str::to_owned), amount: r.amount },
    }
}

/// [`approval_outcome`], and also protocols §2.5 step 3: when KCP's answer names an
/// `order_no` other than our `ordr_idxx`, an approval is not for this purchase and becomes
/// [`ApprovalOutcome::AmountMismatch`] (credit nothing, cancel, alert). A missing `order_no` is
/// accepted, as KCP does not always send it.
pub fn approval_outcome_for_order(
    expected: Won,
    ordr_idxx: &str,
    answer: ApprovalAnswer<'_>,
) -> ApprovalOutcome {
    match approval_outcome(expected, answer) {
        ApprovalOutcome::Approved { tno, amount } => {
            let other_order = matches!(answer, Ok(ApproveResponse { order_no: Some(no), .. })
                if no.trim() != ordr_idxx.trim());
            if other_order {
                ApprovalOutcome::AmountMismatch { tno: Some(tno), amount: Some(amount) }
            } else {
                ApprovalOutcome::Approved { tno, amount }
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(res_cd: &str, tno: Option<&str>, amount: Option<i64>) -> ApproveResponse {
        ApproveResponse {
            res_cd: res_cd.into(),
            res_msg: "정상처리".into(),
            tno: tno.map(str::to_owned),
            amount,
            order_no: None,
            pay_method: Some("PACA".into()),
            app_time: None,
            card_name: None,
            card_no: None,
        }
    }

    #[test]
    fn status_names_round_trip() {
        let names: Vec<&str> = PurchaseStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "pending",
                "kcp_registered",
                "approving",
                "approved",
                "rejected",
                "failed",
                "amount_mismatch",
                "approval_unknown",
                "canceled"
            ]
        );
        for s in PurchaseStatus::ALL {
            assert_eq!(s.as_str().parse::<PurchaseStatus>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<PurchaseStatus>(&format!("\"{s}\"")).unwrap(), s);
        }
        for bad in ["", "Approved", "cancelled", " pending", "unknown"] {
            assert_eq!(bad.parse::<PurchaseStatus>(), Err(UnknownPurchaseStatus(bad.into())));
        }
        assert_eq!(UnknownPurchaseStatus("x".into()).to_string(), "unknown purchase status \"x\"".to_owned());
        assert_eq!(format!("{:>10}", PurchaseStatus::Failed), "    failed");
    }

    #[test]
    fn status_classes() {
        use PurchaseStatus::*;
        let attention: Vec<_> = PurchaseStatus::ALL.into_iter().filter(|s| s.needs_attention()).collect();
        assert_eq!(attention, [Approving, AmountMismatch, ApprovalUnknown]);
        let finals: Vec<_> = PurchaseStatus::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, [Approved, Rejected, Failed, Canceled]);
        for s in PurchaseStatus::ALL {
            assert!(!(s.is_final() && s.needs_attention()), "{s}");
        }
    }

    #[test]
    fn method_names_round_trip() {
        for m in PurchaseMethod::ALL {
            assert_eq!(m.as_str().parse::<PurchaseMethod>(), Ok(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert_eq!(PurchaseMethod::Bank.as_str(), "bank");
        assert_eq!(PurchaseMethod::Kcp.as_str(), "kcp");
        assert_eq!("card".parse::<PurchaseMethod>(), Err(UnknownPurchaseMethod("card".into())));
        assert!(UnknownPurchaseMethod("KCP".into()).to_string().contains("\"KCP\""));
    }

    #[test]
    fn initial_status_by_method() {
        assert_eq!(PurchaseMethod::Bank.initial_status(), PurchaseStatus::Pending);
        assert_eq!(PurchaseMethod::Kcp.initial_status(), PurchaseStatus::KcpRegistered);
    }

    #[test]
    fn transition_table() {
        use PurchaseStatus::*;
        let legal = [
            (Pending, Approved),
            (Pending, Rejected),
            (KcpRegistered, Approving),
            (KcpRegistered, Failed),
            (KcpRegistered, Canceled),
            (Approving, Approved),
            (Approving, Failed),
            (Approving, AmountMismatch),
            (Approving, ApprovalUnknown),
            (Approving, KcpRegistered),
            (ApprovalUnknown, Approved),
            (ApprovalUnknown, Failed),
        ];
        for from in PurchaseStatus::ALL {
            for to in PurchaseStatus::ALL {
                let got = Transition::new(from, to);
                if legal.contains(&(from, to)) {
                    assert_eq!(got, Ok(Transition { from, to }), "{from} -> {to}");
                    assert!(!from.is_final(), "{from} is final");
                } else {
                    assert_eq!(got, Err(IllegalTransition { from, to }), "{from} -> {to}");
                }
            }
        }
        assert_eq!(
            IllegalTransition { from: Approved, to: Pending }.to_string(),
            "a purchase cannot go from approved to pending"
        );
    }

    #[test]
    fn named_transitions() {
        use PurchaseStatus::*;
        assert_eq!(Transition::bank_decision(true), Transition { from: Pending, to: Approved });
        assert_eq!(Transition::bank_decision(false), Transition { from: Pending, to: Rejected });
        assert_eq!(Transition::begin_approval(), Transition { from: KcpRegistered, to: Approving });
        for to in PurchaseStatus::ALL {
            let want = match to {
                Failed | Canceled => Ok(Transition { from: KcpRegistered, to }),
                _ => Err(IllegalTransition { from: KcpRegistered, to }),
            };
            assert_eq!(Transition::end_registration(to), want, "{to}");
        }
        // Every named transition is one the lifecycle allows.
        for t in
            [Transition::bank_decision(true), Transition::bank_decision(false), Transition::begin_approval()]
        {
            assert_eq!(Transition::new(t.from, t.to), Ok(t));
        }
    }

    #[test]
    fn credit_and_approved_at_table() {
        use PurchaseStatus::*;
        let credit = PurchaseCredit {
            kind: LedgerKind::Purchase,
            amount: Points(5000),
            reference: "purchase:42".into(),
            event_ref: "purchase:42".into(),
            description: "포인트 구매 #42".into(),
        };
        let cases: &[(PurchaseStatus, PurchaseStatus, Option<Millis>, Option<&PurchaseCredit>)] = &[
            (Pending, Approved, Some(Millis(7)), Some(&credit)),
            (Pending, Rejected, None, None),
            (KcpRegistered, Approving, None, None),
            (KcpRegistered, Failed, None, None),
            (KcpRegistered, Canceled, None, None),
            (Approving, Approved, Some(Millis(7)), Some(&credit)),
            (Approving, Failed, None, None),
            (Approving, AmountMismatch, None, None),
            (Approving, ApprovalUnknown, None, None),
            (ApprovalUnknown, Approved, Some(Millis(7)), Some(&credit)),
            (ApprovalUnknown, Failed, None, None),
        ];
        for (from, to, at, want) in cases {
            let t = Transition::new(*from, *to).expect("legal");
            assert_eq!(t.approved_at(Millis(7)), *at, "{from} -> {to}");
            assert_eq!(t.credit(42, Points(5000)).as_ref(), *want, "{from} -> {to}");
        }
        assert_eq!(PurchaseCredit::new(42, Points(5000)), credit);
    }

    #[test]
    fn settlement_table() {
        use PurchaseStatus::*;
        let s =
            |to, tno: Option<&str>, amount, code: Option<&str>, msg: Option<&str>, at| ApprovalSettlement {
                transition: Transition { from: Approving, to },
                tno: tno.map(str::to_owned),
                approved_amount: amount,
                res_cd: code.map(str::to_owned),
                res_msg: msg.map(str::to_owned),
                approved_at: at,
            };
        let cases = [
            (
                ApprovalOutcome::Approved { tno: "T1".into(), amount: 1100 },
                s(Approved, Some("T1"), Some(1100), Some("0000"), None, Some(Millis(9))),
            ),
            (
                ApprovalOutcome::Declined { code: "8804".into(), message: "거절".into() },
                s(Failed, None, None, Some("8804"), Some("거절"), None),
            ),
            (
                ApprovalOutcome::Declined { code: "8804".into(), message: "거절".into() }
                    .via_anonymous_return(),
                s(KcpRegistered, None, None, Some("8804"), Some("거절"), None),
            ),
            (
                ApprovalOutcome::AmountMismatch { tno: Some("T2".into()), amount: Some(1) },
                s(
                    AmountMismatch,
                    Some("T2"),
                    Some(1),
                    Some("0000"),
                    Some("approved amount differs from the price"),
                    None,
                ),
            ),
            (
                ApprovalOutcome::AmountMismatch { tno: None, amount: None },
                s(
                    AmountMismatch,
                    None,
                    None,
                    Some("0000"),
                    Some("approved amount differs from the price"),
                    None,
                ),
            ),
            (
                ApprovalOutcome::Unknown { reason: "empty".into() },
                s(ApprovalUnknown, None, None, None, Some("empty"), None),
            ),
        ];
        for (outcome, want) in cases {
            let got = outcome.settlement(Millis(9));
            assert_eq!(got, want, "{outcome:?}");
            assert_eq!(got.transition.to, outcome.status());
            assert_eq!(Transition::new(got.transition.from, got.transition.to), Ok(got.transition));
        }
    }

    #[test]
    fn operator_settlement_table() {
        use PurchaseStatus::*;
        let stale = approval_stale_after_ms(500);
        assert_eq!(stale, 61_000);
        assert!(approval_stale_after_ms(u64::MAX) > i64::MAX / 4, "no overflow");
        let approved = OperatorOutcome::Approved { tno: " 23732987373372 ".into() };
        let failed = OperatorOutcome::Failed { tno: None };
        let now = Millis(100_000);
        let settle = |status, at: Option<i64>, o: &OperatorOutcome| {
            operator_settlement(status, at.map(Millis), Won(5000), o, now, stale)
        };
        let want_approved = |from| ApprovalSettlement {
            transition: Transition { from, to: Approved },
            tno: Some("23732987373372".into()),
            approved_amount: Some(5000),
            res_cd: None,
            res_msg: None,
            approved_at: Some(now),
        };
        assert_eq!(settle(ApprovalUnknown, Some(1), &approved), Ok(want_approved(ApprovalUnknown)));
        assert_eq!(settle(Approving, Some(now.as_ms() - stale), &approved), Ok(want_approved(Approving)));
        assert_eq!(settle(Approving, None, &approved), Ok(want_approved(Approving)));
        assert_eq!(
            settle(Approving, Some(now.as_ms() - stale + 1), &approved),
            Err(SettleRefusal::InProgress)
        );
        assert_eq!(settle(Approving, Some(now.as_ms()), &failed), Err(SettleRefusal::InProgress));
        let want_failed = ApprovalSettlement {
            transition: Transition { from: ApprovalUnknown, to: Failed },
            tno: None,
            approved_amount: None,
            res_cd: None,
            res_msg: None,
            approved_at: None,
        };
        assert_eq!(settle(ApprovalUnknown, None, &failed), Ok(want_failed.clone()));
        let failed_tno = OperatorOutcome::Failed { tno: Some(" 7 ".into()) };
        assert_eq!(
            settle(ApprovalUnknown, None, &failed_tno),
            Ok(ApprovalSettlement { tno: Some("7".into()), ..want_failed })
        );
        let blank = OperatorOutcome::Approved { tno: "  ".into() };
        assert_eq!(settle(ApprovalUnknown, None, &blank), Err(SettleRefusal::MissingTno));
        for s in [Approved, Rejected, Failed, Canceled] {
            assert_eq!(settle(s, Some(1), &approved), Err(SettleRefusal::AlreadyProcessed), "{s}");
        }
        for s in [Pending, KcpRegistered, AmountMismatch] {
            assert_eq!(settle(s, Some(1), &approved), Err(SettleRefusal::NotSettleable), "{s}");
        }
        // Every settlement is a move the lifecycle allows, and credits only when approved.
        for from in [ApprovalUnknown, Approving] {
            for o in [&approved, &failed] {
                let s = settle(from, Some(0), o).expect("settles");
                assert_eq!(Transition::new(s.transition.from, s.transition.to), Ok(s.transition));
                assert_eq!(
                    s.transition.credit(1, Points(5000)).is_some(),
                    matches!(o, OperatorOutcome::Approved { .. })
                );
            }
        }
        let codes: Vec<_> = [
            SettleRefusal::AlreadyProcessed,
            SettleRefusal::InProgress,
            SettleRefusal::NotSettleable,
            SettleRefusal::MissingTno,
        ]
        .iter()
        .map(|r| r.code())
        .collect();
        assert_eq!(codes, ["already_processed", "approval_in_progress", "not_settleable", "missing_tno"]);
    }

    #[test]
    fn validate_amounts_table() {
        type Want = Result<(Points, Won), (&'static str, &'static str)>;
        let ok = |n: i64| -> Want { Ok((Points(n), Won(n))) };
        let err = |field, code| -> Want { Err((field, code)) };
        let cases: &[(i64, i64, Want)] = &[
            (1, 1, ok(1)),
            (10_000, 10_000, ok(10_000)),
            (1_000_000, 1_000_000, ok(1_000_000)),
            (0, 0, err("amount", "invalid_amount")),
            (-1, -1, err("amount", "invalid_amount")),
            (1_000_001, 1_000_001, err("amount", "invalid_amount")),
            (i64::MIN, 1, err("amount", "invalid_amount")),
            (i64::MAX, i64::MAX, err("amount", "invalid_amount")),
            (1, 0, err("price", "invalid_price")),
            (1, -5, err("price", "invalid_price")),
            (1_000_000, 10_000_001, err("price", "invalid_price")),
            (1_000_000, 10_000_000, err("price", "amount_price_mismatch")),
            (1, 2, err("price", "amount_price_mismatch")),
            (1000, 999, err("price", "amount_price_mismatch")),
        ];
        for (amount, price, want) in cases {
            let got = validate_amounts(*amount, *price).map_err(|e| (e.field, e.code));
            assert_eq!(&got, want, "{amount} {price}");
        }
        let e = validate_amounts(2, 1).unwrap_err();
        assert!(!e.message.is_empty());
        assert_eq!(e.to_string(), format!("price: {}", e.message));
    }

    #[test]
    fn approval_outcome_table() {
        let expected = Won(1100);
        let cases: &[(ApproveResponse, ApprovalOutcome)] = &[
            (
                answer("0000", Some("23732987373372"), Some(1100)),
                ApprovalOutcome::Approved { tno: "23732987373372".into(), amount: 1100 },
            ),
            (
                answer(" 0000 ", Some(" 1 "), Some(1100)),
                ApprovalOutcome::Approved { tno: "1".into(), amount: 1100 },
            ),
            (
                answer("0000", Some("2"), Some(1000)),
                ApprovalOutcome::AmountMismatch { tno: Some("2".into()), amount: Some(1000) },
            ),
            (
                answer("0000", Some("2"), Some(1101)),
                ApprovalOutcome::AmountMismatch { tno: Some("2".into()), amount: Some(1101) },
            ),
            (
                answer("0000", Some("2"), None),
                ApprovalOutcome::AmountMismatch { tno: Some("2".into()), amount: None },
            ),
            (
                answer("0000", None, Some(1100)),
                ApprovalOutcome::AmountMismatch { tno: None, amount: Some(1100) },
            ),
            (
                answer("0000", Some("  "), Some(1100)),
                ApprovalOutcome::AmountMismatch { tno: None, amount: Some(1100) },
            ),
            (answer("0000", None, None), ApprovalOutcome::AmountMismatch { tno: None, amount: None }),
            (
                answer("8804", Some("2"), Some(1100)),
                ApprovalOutcome::Declined { code: "8804".into(), message: "정상처리".into() },
            ),
            (
                answer("", None, None),
                ApprovalOutcome::Declined { code: String::new(), message: "정상처리".into() },
            ),
            (
                answer("00000", Some("2"), Some(1100)),
                ApprovalOutcome::Declined { code: "00000".into(), message: "정상처리".into() },
            ),
        ];
        for (r, want) in cases {
            assert_eq!(&approval_outcome(expected, Ok(r)), want, "{r:?}");
        }
    }

    #[test]
    fn approval_outcome_unknown_and_statuses() {
        for e in [
            ParseError::Empty,
            ParseError::NotJson("<html>".into()),
            ParseError::UnexpectedShape("[]".into()),
        ] {
            let got = approval_outcome(Won(1), Err(&e));
            assert_eq!(got, ApprovalOutcome::Unknown { reason: e.to_string() });
            assert_eq!(got.status(), PurchaseStatus::ApprovalUnknown);
        }
        let sample = answer("0000", Some("1"), Some(5));
        assert_eq!(approval_outcome(Won(5), Ok(&sample)).status(), PurchaseStatus::Approved);
        assert_eq!(approval_outcome(Won(6), Ok(&sample)).status(), PurchaseStatus::AmountMismatch);
        let declined = answer("9562", None, None);
        assert_eq!(approval_outcome(Won(5), Ok(&declined)).status(), PurchaseStatus::Failed);
    }

    #[test]
    fn approval_outcome_for_order_checks_order_no() {
        let id = "POINT_20240501090307_AZ09AD";
        let mut r = answer("0000", Some("1"), Some(5));
        let approved = ApprovalOutcome::Approved { tno: "1".into(), amount: 5 };
        assert_eq!(approval_outcome_for_order(Won(5), id, Ok(&r)), approved);
        r.order_no = Some(id.into());
        assert_eq!(approval_outcome_for_order(Won(5), id, Ok(&r)), approved);
        r.order_no = Some("POINT_OTHER".into());
        assert_eq!(
            approval_outcome_for_order(Won(5), id, Ok(&r)),
            ApprovalOutcome::AmountMismatch { tno: Some("1".into()), amount: Some(5) }
        );
        r.res_cd = "8804".into();
        assert!(matches!(approval_outcome_for_order(Won(5), id, Ok(&r)), ApprovalOutcome::Declined { .. }));
        assert!(matches!(
            approval_outcome_for_order(Won(5), id, Err(&ParseError::Empty)),
            ApprovalOutcome::Unknown { .. }
        ));
    }
}
