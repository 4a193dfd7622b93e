//! The SMM panel API v2 (SMM Kings, PerfectPanel family) as a sans-IO codec (protocols §1).
//!
//! The panel has one URL. Every request is a `POST` of `application/x-www-form-urlencoded`
//! fields: `key` authenticates and `action` selects the operation. The `*_form` builders return
//! those fields in order, [`encode_form`] turns them into a body, and the `parse_*` functions
//! turn the response bytes into typed values. Nothing here touches the network.
//!
//! Failures come in two layers, kept apart on purpose:
//!
//! - [`ParseError`]: the bytes are not a reply we understand (an empty body, an HTML error page,
//!   truncated JSON, an unexpected shape). For `add` this is an **unknown outcome** (§1.4):
//!   the order may exist upstream, so it must not be retried blindly.
//! - [`UpstreamError`]: the panel answered `{"error": "…"}`, normally with HTTP 200. [`classify`]
//!   says whether to retry later, give up (and refund), or fix the configuration.
//!
//! The panel's types are loose (§1.1). Numbers arrive as JSON integers, floats or numeric strings
//! (`"157"`, `" 12 "`), ids as integers or strings. Every parser accepts all of these and ignores
//! unknown fields. None of them panics on any input, which the `smm_parse` fuzz target checks.
//!
//! # Example
//!
//! ```
//! use snspmt_core::upstream::smm::{self, AddOrder, AddReply, OrderParams, ServiceType, Status};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Encode: the fields of `add`, then the form body.
//! let params = OrderParams::default();
//! let order = AddOrder {
//!     service: "1",
//!     service_type: &ServiceType::Default,
//!     link: "https://x.com/a b",
//!     quantity: 100,
//!     comments: None,
//!     drip: None,
//!     params: &params,
//! };
//! let body = smm::encode_form(&smm::add_form("KEY", &order)?);
//! assert_eq!(body, "key=KEY&action=add&service=1&link=https%3A%2F%2Fx.com%2Fa+b&quantity=100");
//!
//! // Decode: the panel's replies, however loosely typed.
//! assert_eq!(smm::parse_add(br#"{"order": "23501"}"#)?, AddReply::Accepted { order: "23501".into() });
//! let reply = br#"{"charge": "0.27819", "start_count": "3572", "status": "Partial", "remains": 157}"#;
//! let status = smm::parse_status(reply)??;
//! assert_eq!((status.status, status.remains), (Status::Partial, Some(157)));
//! // An HTML error page is not a reply: for `add` the outcome is unknown, never retried blindly.
//! assert!(smm::parse_add(b"<html>502 Bad Gateway</html>").is_err());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::text::{snippet, value_snippet};

/// Form fields of a request, in order; values already strings. The transport url-encodes them
/// (see [`encode_form`]).
pub type Form = Vec<(&'static str, String)>;

/// The most ids one bulk request (`orders=1,2,3`) may carry (§1.1).
pub const MAX_BULK: usize = 100;

/// Upper bound on the characters kept from an upstream error message. [`classify`] always sees
/// the whole message; only the stored copy is cut.
const MAX_MESSAGE_CHARS: usize = 500;

/// Upper bound on the length of an order or service id we accept from the panel.
const MAX_ID_CHARS: usize = 64;

// ---------------------------------------------------------------------------------------------
// Service types
// ---------------------------------------------------------------------------------------------

/// A service's `type`: which `add` parameters it takes (§1.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum ServiceType {
    Default,
    Package,
    CustomComments,
    CustomCommentsPackage,
    Mentions,
    MentionsWithHashtags,
    MentionsCustomList,
    MentionsHashtag,
    MentionsUserFollowers,
    MentionsMediaLikers,
    CommentLikes,
    CommentReplies,
    Poll,
    InvitesFromGroups,
    Subscriptions,
    WebTraffic,
    /// A type this codec does not know, as the panel spelled it (trimmed).
    Other(String),
}

impl ServiceType {
    /// Every type of the §1.2 table, in its order.
    pub const KNOWN: [ServiceType; 16] = [
        ServiceType::Default,
        ServiceType::Package,
        ServiceType::CustomComments,
        ServiceType::CustomCommentsPackage,
        ServiceType::Mentions,
        ServiceType::MentionsWithHashtags,
        ServiceType::MentionsCustomList,
        ServiceType::MentionsHashtag,
        ServiceType::MentionsUserFollowers,
        ServiceType::MentionsMediaLikers,
        ServiceType::CommentLikes,
        ServiceType::CommentReplies,
        ServiceType::Poll,
        ServiceType::InvitesFromGroups,
        ServiceType::Subscriptions,
        ServiceType::WebTraffic,
    ];

    /// Reads a panel's `type` string: case-insensitive, ignoring spaces, underscores and
    /// hyphens, so `"Custom Comments"`, `"custom_comments"` and `"CUSTOM-COMMENTS"` are the same.
    /// `"Subscription"` is accepted for [`ServiceType::Subscriptions`]. Anything else is
    /// [`ServiceType::Other`] with the trimmed original text.
    pub fn parse(s: &str) -> ServiceType {
        let key = fold(s);
        if key == "subscription" {
            return ServiceType::Subscriptions;
        }
        ServiceType::KNOWN
            .into_iter()
            .find(|t| fold(t.as_str()) == key)
            .unwrap_or_else(|| ServiceType::Other(s.trim().to_owned()))
    }

    /// The snake_case name (`"custom_comments"`); [`ServiceType::Other`] gives its own text.
    /// [`ServiceType::parse`] reads it back.
    pub fn as_str(&self) -> &str {
        match self {
            ServiceType::Default => "default",
            ServiceType::Package => "package",
            ServiceType::CustomComments => "custom_comments",
            ServiceType::CustomCommentsPackage => "custom_comments_package",
            ServiceType::Mentions => "mentions",
            ServiceType::MentionsWithHashtags => "mentions_with_hashtags",
            ServiceType::MentionsCustomList => "mentions_custom_list",
            ServiceType::MentionsHashtag => "mentions_hashtag",
            ServiceType::MentionsUserFollowers => "mentions_user_followers",
            ServiceType::MentionsMediaLikers => "mentions_media_likers",
            ServiceType::CommentLikes => "comment_likes",
            ServiceType::CommentReplies => "comment_replies",
            ServiceType::Poll => "poll",
            ServiceType::InvitesFromGroups => "invites_from_groups",
            ServiceType::Subscriptions => "subscriptions",
            ServiceType::WebTraffic => "web_traffic",
            ServiceType::Other(s) => s,
        }
    }

    /// The name panels print in `services` (`"Custom Comments"`, `"Web Traffic"`, as the §1.2
    /// table spells them); [`ServiceType::Other`] gives its own text. [`ServiceType::parse`]
    /// reads it back.
    pub fn panel_name(&self) -> &str {
        match self {
            ServiceType::Default => "Default",
            ServiceType::Package => "Package",
            ServiceType::CustomComments => "Custom Comments",
            ServiceType::CustomCommentsPackage => "Custom Comments Package",
            ServiceType::Mentions => "Mentions",
            ServiceType::MentionsWithHashtags => "Mentions with Hashtags",
            ServiceType::MentionsCustomList => "Mentions Custom List",
            ServiceType::MentionsHashtag => "Mentions Hashtag",
            ServiceType::MentionsUserFollowers => "Mentions User Followers",
            ServiceType::MentionsMediaLikers => "Mentions Media Likers",
            ServiceType::CommentLikes => "Comment Likes",
            ServiceType::CommentReplies => "Comment Replies",
            ServiceType::Poll => "Poll",
            ServiceType::InvitesFromGroups => "Invites from Groups",
            ServiceType::Subscriptions => "Subscriptions",
            ServiceType::WebTraffic => "Web Traffic",
            ServiceType::Other(s) => s,
        }
    }

    /// Whether `add` takes a `quantity` for this type (§1.2, [`ServiceType::spec`]). The
    /// quantity of the comment types is the number of comment lines, of Mentions Custom List the
    /// number of usernames; a package has none; a subscription has `min`/`max`. An unknown type
    /// is assumed to take one, as most do.
    pub fn takes_quantity(&self) -> bool {
        self.spec().is_none_or(|spec| spec.quantity == QuantityRule::Given)
    }

    /// Whether `add` takes `comments` (one per line) for this type.
    pub fn takes_comments(&self) -> bool {
        self.spec().is_some_and(|spec| spec.params.iter().any(|p| p.name == "comments"))
    }

    /// Whether this type may carry `runs`/`interval` (drip-feed): Default and Web Traffic only.
    /// The service itself must also say `"dripfeed": true` ([`ServiceInfo::dripfeed`]).
    pub fn supports_dripfeed(&self) -> bool {
        matches!(self, ServiceType::Default | ServiceType::WebTraffic)
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lower-cases `s` and drops whitespace, `_` and `-`: the comparison key of type and status
/// names.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Type parameters
// ---------------------------------------------------------------------------------------------

/// An order's type parameters (`usernames`, `answer_number`, …): parameter name → cleaned text,
/// in name order. Empty for the types that take none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderParams(BTreeMap<String, String>);

/// No parameters: what the types without any, a package's parts and an admin's raw order send.
pub static NO_PARAMS: OrderParams = OrderParams::new();

impl OrderParams {
    pub const fn new() -> OrderParams {
        OrderParams(BTreeMap::new())
    }

    /// A parameter's text.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Sets a parameter (the previous text is replaced).
    pub fn insert(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.0.insert(name.into(), text.into());
    }

    /// Takes a parameter out.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `(name, text)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for OrderParams {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> OrderParams {
        OrderParams(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

/// How a parameter's text is read and cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// One line of text, trimmed (at most [`MAX_TEXT_CHARS`] characters).
    Text,
    /// A newline list (`\n` or `\r\n`): each line trimmed, blank lines dropped, at least one
    /// left; stored joined by `\n`.
    Lines,
    /// Comments, one per line: checked and counted by [`crate::validate::comments`], kept as
    /// given with `\r\n` made `\n`.
    Comments,
    /// A decimal integer in `min..=max`.
    Int { min: u64, max: u64 },
    /// A decimal integer from this set.
    OneOf(&'static [u64]),
    /// A date `d/m/Y` (`31/12/2026`; one-digit day and month allowed).
    Date,
}

/// Whether a type needs a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
    /// Required when the (already checked) parameter `.0` is `.1`, and not taken otherwise.
    When(&'static str, &'static str),
}

/// One parameter of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub need: Need,
}

/// Where an order's quantity (what it is priced on and bounded by) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityRule {
    /// The `quantity` given with the order (per run for drip-feed), sent as `quantity`.
    Given,
    /// A package: no `quantity` is sent; the order is one unit of the service.
    Package,
    /// The number of lines of this parameter (`comments`, `usernames`); no `quantity` is sent.
    LinesOf(&'static str),
    /// Subscriptions: `max × posts`, the most the panel may deliver (and bill) for the order;
    /// no `quantity` is sent.
    MaxTimesPosts,
}

/// What `add` takes for one service type (§1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeSpec {
    /// Whether `link` is sent (every type but Subscriptions).
    pub link: bool,
    pub quantity: QuantityRule,
    /// The type's own parameters, in the order they are sent.
    pub params: &'static [Param],
}

/// The longest one-line parameter ([`ParamKind::Text`]), in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// The longest list parameter ([`ParamKind::Lines`]), in bytes.
pub const MAX_LIST_BYTES: usize = 100_000;
/// The most lines of a list parameter.
pub const MAX_LIST_LINES: usize = 10_000;
/// The minutes a subscription's `delay` may be (§1.2).
pub const SUBSCRIPTION_DELAYS: &[u64] =
    &[0, 5, 10, 15, 20, 30, 40, 50, 60, 90, 120, 150, 180, 210, 240, 270, 300, 360, 420, 480, 540, 600];
/// The most posts one subscription order may cover.
pub const MAX_POSTS: u64 = 10_000;

const fn param(name: &'static str, kind: ParamKind, need: Need) -> Param {
    Param { name, kind, need }
}

const fn given(params: &'static [Param]) -> TypeSpec {
    TypeSpec { link: true, quantity: QuantityRule::Given, params }
}

const REQ: Need = Need::Required;
const USERNAMES: Param = param("usernames", ParamKind::Lines, REQ);
const USERNAME: Param = param("username", ParamKind::Text, REQ);
const COMMENTS: Param = param("comments", ParamKind::Comments, REQ);
const COUNT: u64 = u32::MAX as u64;

const DEFAULT: TypeSpec = given(&[]);
const PACKAGE: TypeSpec = TypeSpec { link: true, quantity: QuantityRule::Package, params: &[] };
const CUSTOM_COMMENTS: TypeSpec =
    TypeSpec { link: true, quantity: QuantityRule::LinesOf("comments"), params: &[COMMENTS] };
const MENTIONS: TypeSpec = given(&[USERNAMES]);
const MENTIONS_WITH_HASHTAGS: TypeSpec = given(&[USERNAMES, param("hashtags", ParamKind::Lines, REQ)]);
const MENTIONS_CUSTOM_LIST: TypeSpec =
    TypeSpec { link: true, quantity: QuantityRule::LinesOf("usernames"), params: &[USERNAMES] };
const MENTIONS_HASHTAG: TypeSpec = given(&[param("hashtag", ParamKind::Text, REQ)]);
const MENTIONS_USER_FOLLOWERS: TypeSpec = given(&[USERNAME]);
const MENTIONS_MEDIA_LIKERS: TypeSpec = given(&[param("media", ParamKind::Text, REQ)]);
const COMMENT_LIKES: TypeSpec = given(&[USERNAME]);
const COMMENT_REPLIES: TypeSpec =
    TypeSpec { link: true, quantity: QuantityRule::LinesOf("comments"), params: &[USERNAME, COMMENTS] };
const POLL: TypeSpec = given(&[param("answer_number", ParamKind::Int { min: 1, max: COUNT }, REQ)]);
const INVITES_FROM_GROUPS: TypeSpec = given(&[param("groups", ParamKind::Lines, REQ)]);
const SUBSCRIPTIONS: TypeSpec = TypeSpec {
    link: false,
    quantity: QuantityRule::MaxTimesPosts,
    params: &[
        USERNAME,
        param("min", ParamKind::Int { min: 1, max: COUNT }, REQ),
        param("max", ParamKind::Int { min: 1, max: COUNT }, REQ),
        param("posts", ParamKind::Int { min: 1, max: MAX_POSTS }, REQ),
        param("old_posts", ParamKind::Int { min: 0, max: MAX_POSTS }, Need::Optional),
        param("delay", ParamKind::OneOf(SUBSCRIPTION_DELAYS), REQ),
        param("expiry", ParamKind::Date, Need::Optional),
    ],
};
const WEB_TRAFFIC: TypeSpec = given(&[
    param("country", ParamKind::Text, REQ),
    param("device", ParamKind::Int { min: 1, max: 5 }, REQ),
    param("type_of_traffic", ParamKind::Int { min: 1, max: 3 }, REQ),
    param("google_keyword", ParamKind::Text, Need::When("type_of_traffic", "1")),
    param("referring_url", ParamKind::Text, Need::When("type_of_traffic", "2")),
]);

impl ServiceType {
    /// What `add` takes for this type: THE table of §1.2. `None` for [`ServiceType::Other`],
    /// which cannot be ordered.
    pub fn spec(&self) -> Option<&'static TypeSpec> {
        Some(match self {
            ServiceType::Default => &DEFAULT,
            ServiceType::Package => &PACKAGE,
            ServiceType::CustomComments | ServiceType::CustomCommentsPackage => &CUSTOM_COMMENTS,
            ServiceType::Mentions => &MENTIONS,
            ServiceType::MentionsWithHashtags => &MENTIONS_WITH_HASHTAGS,
            ServiceType::MentionsCustomList => &MENTIONS_CUSTOM_LIST,
            ServiceType::MentionsHashtag => &MENTIONS_HASHTAG,
            ServiceType::MentionsUserFollowers => &MENTIONS_USER_FOLLOWERS,
            ServiceType::MentionsMediaLikers => &MENTIONS_MEDIA_LIKERS,
            ServiceType::CommentLikes => &COMMENT_LIKES,
            ServiceType::CommentReplies => &COMMENT_REPLIES,
            ServiceType::Poll => &POLL,
            ServiceType::InvitesFromGroups => &INVITES_FROM_GROUPS,
            ServiceType::Subscriptions => &SUBSCRIPTIONS,
            ServiceType::WebTraffic => &WEB_TRAFFIC,
            ServiceType::Other(_) => return None,
        })
    }

    /// Every parameter name some type takes (the names a request is searched for).
    pub fn all_param_names() -> Vec<&'static str> {
        let mut names: Vec<&'static str> = ServiceType::KNOWN
            .iter()
            .filter_map(ServiceType::spec)
            .flat_map(|spec| spec.params.iter().map(|p| p.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// What is wrong with a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamProblem {
    /// Required and absent (or blank).
    Missing,
    NotAnInteger,
    OutOfRange {
        min: u64,
        max: u64,
    },
    NotOneOf(&'static [u64]),
    /// Not a `d/m/Y` date.
    NotADate,
    /// A one-line parameter with a line break or a control character.
    NotOneLine,
    /// Longer than [`MAX_TEXT_CHARS`], [`MAX_LIST_BYTES`] or [`MAX_LIST_LINES`].
    TooLong,
    /// Another reason, said in words (a comment check, `max` below `min`).
    Invalid(&'static str),
}

/// A type parameter that is missing or wrong, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub field: &'static str,
    pub problem: ParamProblem,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field;
        match &self.problem {
            ParamProblem::Missing => write!(f, "{field} is required for this service"),
            ParamProblem::NotAnInteger => write!(f, "{field} must be an integer"),
            ParamProblem::OutOfRange { min, max } => write!(f, "{field} must be between {min} and {max}"),
            ParamProblem::NotOneOf(set) => {
                let set: Vec<String> = set.iter().map(u64::to_string).collect();
                write!(f, "{field} must be one of {}", set.join(", "))
            }
            ParamProblem::NotADate => write!(f, "{field} must be a date d/m/Y"),
            ParamProblem::NotOneLine => write!(f, "{field} must be one line of text"),
            ParamProblem::TooLong => write!(f, "{field} is too long"),
            ParamProblem::Invalid(why) => write!(f, "{field}: {why}"),
        }
    }
}

impl std::error::Error for ParamError {}

/// An order's parameters after [`check_params`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedParams {
    /// Exactly the type's parameters that apply, cleaned.
    pub params: OrderParams,
    /// The quantity the parameters fix (lines counted, `max × posts`); `None` when the order's
    /// own quantity is used ([`QuantityRule::Given`], [`QuantityRule::Package`]).
    pub quantity: Option<u64>,
}

/// Checks `given` (parameter name → raw text; names the type does not take are ignored)
/// against the type's row of the table: every required parameter present, every value of its
/// kind, cleaned; and the quantity the parameters fix. [`ServiceType::Other`] takes nothing.
pub fn check_params(kind: &ServiceType, given: &OrderParams) -> Result<CheckedParams, ParamError> {
    let Some(spec) = kind.spec() else {
        return Ok(CheckedParams { params: OrderParams::new(), quantity: None });
    };
    let mut params = OrderParams::new();
    for p in spec.params {
        let applies = match p.need {
            Need::When(other, value) => params.get(other) == Some(value),
            Need::Required | Need::Optional => true,
        };
        if !applies {
            continue;
        }
        let raw = given.get(p.name).filter(|v| !v.trim().is_empty());
        let Some(raw) = raw else {
            match (p.need, p.kind) {
                // The comment check says what is missing in its own words.
                (_, ParamKind::Comments) => {
                    clean(p, "")?;
                }
                (Need::Optional, _) => continue,
                _ => return Err(ParamError { field: p.name, problem: ParamProblem::Missing }),
            }
            continue;
        };
        params.insert(p.name, clean(p, raw)?);
    }
    if let (Some(min), Some(max)) = (int_of(&params, "min"), int_of(&params, "max")) {
        if max < min {
            return Err(ParamError {
                field: "max",
                problem: ParamProblem::Invalid("max must not be below min"),
            });
        }
    }
    let quantity = match spec.quantity {
        QuantityRule::Given | QuantityRule::Package => None,
        QuantityRule::LinesOf(name) => Some(match params.get(name) {
            Some(text) if name == "comments" => crate::validate::comments(text).unwrap_or(0),
            Some(text) => text.lines().count() as u64,
            None => 0,
        }),
        QuantityRule::MaxTimesPosts => {
            let (max, posts) = (int_of(&params, "max").unwrap_or(0), int_of(&params, "posts").unwrap_or(0));
            Some(max.checked_mul(posts).ok_or(ParamError {
                field: "posts",
                problem: ParamProblem::Invalid("max × posts is too large"),
            })?)
        }
    };
    Ok(CheckedParams { params, quantity })
}

fn int_of(params: &OrderParams, name: &str) -> Option<u64> {
    params.get(name).and_then(|v| v.parse().ok())
}

/// One parameter's raw text, cleaned, or why not.
fn clean(p: &Param, raw: &str) -> Result<String, ParamError> {
    let err = |problem| ParamError { field: p.name, problem };
    let int = |raw: &str| raw.trim().parse::<u64>().map_err(|_| err(ParamProblem::NotAnInteger));
    match p.kind {
        ParamKind::Text => {
            let text = raw.trim();
            if text.chars().any(char::is_control) {
                Err(err(ParamProblem::NotOneLine))
            } else if text.chars().count() > MAX_TEXT_CHARS {
                Err(err(ParamProblem::TooLong))
            } else {
                Ok(text.to_owned())
            }
        }
        ParamKind::Lines => {
            if raw.len() > MAX_LIST_BYTES {
                return Err(err(ParamProblem::TooLong));
            }
            let lines: Vec<&str> = raw.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            if lines.len() > MAX_LIST_LINES {
                return Err(err(ParamProblem::TooLong));
            }
            if lines.iter().any(|l| l.chars().any(char::is_control)) {
                return Err(err(ParamProblem::NotOneLine));
            }
            if lines.is_empty() {
                return Err(err(ParamProblem::Missing));
            }
            Ok(lines.join("\n"))
        }
        ParamKind::Comments => match crate::validate::comments(raw) {
            Ok(_) => Ok(raw.replace("\r\n", "\n")),
            Err(e) => Err(err(ParamProblem::Invalid(e.message))),
        },
        ParamKind::Int { min, max } => {
            let n = int(raw)?;
            if n < min || n > max {
                Err(err(ParamProblem::OutOfRange { min, max }))
            } else {
                Ok(n.to_string())
            }
        }
        ParamKind::OneOf(set) => {
            let n = int(raw)?;
            if set.contains(&n) {
                Ok(n.to_string())
            } else {
                Err(err(ParamProblem::NotOneOf(set)))
            }
        }
        ParamKind::Date => {
            let text = raw.trim();
            let parts: Vec<&str> = text.split('/').collect();
            let number = |s: &str, len: std::ops::RangeInclusive<usize>| {
                (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| s.parse::<u32>().ok())
                    .flatten()
            };
            match parts[..] {
                [d, m, y] => match (number(d, 1..=2), number(m, 1..=2), number(y, 4..=4)) {
                    (Some(1..=31), Some(1..=12), Some(2000..=9999)) => Ok(text.to_owned()),
                    _ => Err(err(ParamProblem::NotADate)),
                },
                _ => Err(err(ParamProblem::NotADate)),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// What to order upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddOrder<'a> {
    /// The provider's service id.
    pub service: &'a str,
    /// The service's type, from the catalogue ([`ServiceInfo::service_type`]).
    pub service_type: &'a ServiceType,
    pub link: &'a str,
    /// Units to deliver; **per run** for a drip-feed order (§1.2), so the total is
    /// `quantity × runs`. Ignored by types that take no quantity.
    pub quantity: u64,
    /// Newline-separated comments, for the types that take them; sent exactly as given.
    pub comments: Option<&'a str>,
    /// `Some` only for a drip-feed order.
    pub drip: Option<Drip>,
    /// The type's own parameters, as [`check_params`] cleaned them (`comments` may be here
    /// instead of in [`AddOrder::comments`]). Parameters the type does not take are not sent.
    pub params: &'a OrderParams,
}

/// Drip-feed: `runs` deliveries of the order's quantity, `interval` minutes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drip {
    pub runs: u32,
    /// Minutes between runs.
    pub interval: u32,
}

/// Why a request cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// More than [`MAX_BULK`] ids in one bulk request (the count is given).
    TooManyIds(usize),
    /// A bulk request with no ids at all.
    NoIds,
    /// A comment type without any comment.
    MissingComments,
    /// `runs`/`interval` for a type that has no drip-feed.
    DripNotSupported(ServiceType),
    /// A type this codec does not know ([`ServiceType::Other`]): which parameters it takes is
    /// anyone's guess.
    UnsupportedType(ServiceType),
    /// A required field that is empty, blank or zero (the field's name is given).
    EmptyField(&'static str),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::TooManyIds(n) => write!(f, "{n} ids in one request, at most {MAX_BULK} allowed"),
            BuildError::NoIds => f.write_str("a bulk request needs at least one id"),
            BuildError::MissingComments => f.write_str("this service type needs at least one comment"),
            BuildError::DripNotSupported(t) => write!(f, "service type `{t}` has no drip-feed"),
            BuildError::UnsupportedType(t) => {
                write!(f, "service type `{t}` cannot be ordered through this panel")
            }
            BuildError::EmptyField(name) => write!(f, "field `{name}` must not be empty or zero"),
        }
    }
}

impl std::error::Error for BuildError {}

/// `key` and `action`, the two fields of every request.
fn request(key: &str, action: &str) -> Form {
    vec![("key", key.to_owned()), ("action", action.to_owned())]
}

/// `value` trimmed, or [`BuildError::EmptyField`] if nothing is left.
fn required(field: &'static str, value: &str) -> Result<String, BuildError> {
    let value = value.trim();
    if value.is_empty() {
        Err(BuildError::EmptyField(field))
    } else {
        Ok(value.to_owned())
    }
}

/// `action=services`: the catalogue.
pub fn services_form(key: &str) -> Form {
    request(key, "services")
}

/// `action=add`: one order, with **only** the parameters its type takes (§1.3: the original sent
/// every field to every type, and `runs=1&interval=0` on plain orders), in the order of its
/// row of the table ([`ServiceType::spec`]):
///
/// - `service`; `link` (not for Subscriptions); `quantity` only for [`QuantityRule::Given`];
///   `runs`, `interval` only when [`AddOrder::drip`] is `Some` (Default, Web Traffic);
/// - then the type's parameters: `comments` from [`AddOrder::comments`] (else from the
///   params), every other one from [`AddOrder::params`]; a [`Need::When`] parameter only when
///   its condition holds; an absent optional one is left out.
/// - [`ServiceType::Other`] is [`BuildError::UnsupportedType`].
///
/// `service` and `link` are trimmed; an empty one, a zero `quantity`, zero `runs`, a zero
/// `interval` or a missing required parameter is [`BuildError::EmptyField`] (missing comments:
/// [`BuildError::MissingComments`]). The parameter values are sent as given: they were
/// cleaned by [`check_params`] when the order was placed.
pub fn add_form(key: &str, order: &AddOrder<'_>) -> Result<Form, BuildError> {
    let kind = order.service_type;
    let spec = kind.spec().ok_or_else(|| BuildError::UnsupportedType(kind.clone()))?;
    if order.drip.is_some() && !kind.supports_dripfeed() {
        return Err(BuildError::DripNotSupported(kind.clone()));
    }
    let key = required("key", key)?;
    let service = required("service", order.service)?;

    let mut form = request(&key, "add");
    form.push(("service", service));
    if spec.link {
        form.push(("link", required("link", order.link)?));
    }
    if spec.quantity == QuantityRule::Given {
        if order.quantity == 0 {
            return Err(BuildError::EmptyField("quantity"));
        }
        form.push(("quantity", order.quantity.to_string()));
    }
    if let Some(drip) = order.drip {
        if drip.runs == 0 {
            return Err(BuildError::EmptyField("runs"));
        }
        if drip.interval == 0 {
            return Err(BuildError::EmptyField("interval"));
        }
        form.push(("runs", drip.runs.to_string()));
        form.push(("interval", drip.interval.to_string()));
    }
    for p in spec.params {
        if let Need::When(other, value) = p.need {
            if order.params.get(other).map(str::trim) != Some(value) {
                continue;
            }
        }
        let value = if p.name == "comments" {
            order.comments.or_else(|| order.params.get("comments"))
        } else {
            order.params.get(p.name)
        };
        match value.filter(|v| !v.trim().is_empty()) {
            Some(v) if p.kind == ParamKind::Comments => form.push((p.name, v.to_owned())),
            Some(v) => form.push((p.name, v.trim().to_owned())),
            None if p.kind == ParamKind::Comments => return Err(BuildError::MissingComments),
            None if p.need == Need::Optional => {}
            None => return Err(BuildError::EmptyField(p.name)),
        }
    }
    Ok(form)
}

/// `action=status&order=<id>`: one order's status.
pub fn status_form(key: &str, order: &str) -> Form {
    let mut form = request(key, "status");
    form.push(("order", order.trim().to_owned()));
    form
}

/// `action=status&orders=1,2,3`: up to [`MAX_BULK`] orders at once.
pub fn multi_status_form(key: &str, orders: &[String]) -> Result<Form, BuildError> {
    let mut form = request(key, "status");
    form.push(("orders", id_list(orders)?));
    Ok(form)
}

/// `action=refill&order=<id>`: ask for a refill of one order.
pub fn refill_form(key: &str, order: &str) -> Form {
    let mut form = request(key, "refill");
    form.push(("order", order.trim().to_owned()));
    form
}

/// `action=cancel&orders=1,2,3`: cancel up to [`MAX_BULK`] orders (the panel has no single
/// form).
pub fn cancel_form(key: &str, orders: &[String]) -> Result<Form, BuildError> {
    let mut form = request(key, "cancel");
    form.push(("orders", id_list(orders)?));
    Ok(form)
}

/// `action=refill_status&refills=1,2,3`: statuses of up to [`MAX_BULK`] refills at once.
pub fn refill_status_form(key: &str, refills: &[String]) -> Result<Form, BuildError> {
    let mut form = request(key, "refill_status");
    form.push(("refills", id_list(refills)?));
    Ok(form)
}

/// `action=balance`: the account balance.
pub fn balance_form(key: &str) -> Form {
    request(key, "balance")
}

/// `1,2,3` from 1..=[`MAX_BULK`] non-blank ids (each trimmed).
fn id_list(ids: &[String]) -> Result<String, BuildError> {
    if ids.is_empty() {
        return Err(BuildError::NoIds);
    }
    if ids.len() > MAX_BULK {
        return Err(BuildError::TooManyIds(ids.len()));
    }
    let ids = ids.iter().map(|id| required("orders", id)).collect::<Result<Vec<_>, _>>()?;
    Ok(ids.join(","))
}

/// The `application/x-www-form-urlencoded` body of a form: `k=v&k=v`, with ASCII letters,
/// digits and `-._~` kept, a space as `+`, and every other byte of the UTF-8 text as `%XX`
/// (upper-case hex).
pub fn encode_form(form: &Form) -> String {
    let mut out = String::new();
    for (i, (name, value)) in form.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(name, &mut out);
        out.push('=');
        percent_encode(value, &mut out);
    }
    out
}

fn percent_encode(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0F)]));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// One entry of the catalogue (`action=services`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// The provider's service id.
    pub service: String,
    pub name: String,
    pub service_type: ServiceType,
    pub category: String,
    /// Price per 1000 units in millionths of the account currency: the decimal `rate` parsed
    /// exactly, rounding **up** any digit beyond the sixth decimal ([`decimal_to_micros`]).
    pub rate_micros: u64,
    pub min: u64,
    pub max: u64,
    pub refill: bool,
    pub cancel: bool,
    pub dripfeed: bool,
}

/// What an `{"error": "…"}` means for the caller (§1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The request is wrong and will stay wrong (bad service, link, quantity or id): give up,
    /// refund the customer.
    Definitive,
    /// A passing condition (no funds on the panel account, an active order on the same link):
    /// try again later, and alert an admin for funds.
    RetryLater,
    /// The API key is wrong: fix the configuration.
    Configuration,
    /// Not a message we recognise.
    Unknown,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Definitive => "definitive",
            ErrorClass::RetryLater => "retry_later",
            ErrorClass::Configuration => "configuration",
            ErrorClass::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A logical failure reported by the panel: `{"error": "…"}`, top-level or inline in a bulk
/// reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    /// The panel's message, trimmed and cut to 500 characters.
    pub message: String,
    pub class: ErrorClass,
}

impl UpstreamError {
    /// An error with `message`, classified by [`classify`].
    pub fn new(message: &str) -> UpstreamError {
        let message = message.trim();
        UpstreamError { class: classify(message), message: message.chars().take(MAX_MESSAGE_CHARS).collect() }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "upstream error ({}): {}", self.class, self.message)
    }
}

impl std::error::Error for UpstreamError {}

/// Classifies an `{"error": "…"}` message by case-insensitive substring (§1.2 "Error strings
/// seen in the wild", §1.4), never by exact match:
///
/// - `api key`, `invalid key`, `incorrect key` → [`ErrorClass::Configuration`] (checked first: a
///   wrong key breaks everything);
/// - `not enough funds`, `balance`, `active order` → [`ErrorClass::RetryLater`];
/// - `incorrect service`, `incorrect link`, `bad link`, `incorrect quantity`, `quantity less
///   than`, `quantity more than`, `minimal`, `maximum`, `incorrect order id`, `incorrect
///   request`, `refill not found` → [`ErrorClass::Definitive`];
/// - anything else → [`ErrorClass::Unknown`].
pub fn classify(message: &str) -> ErrorClass {
    const CONFIGURATION: &[&str] = &["api key", "invalid key", "incorrect key"];
    const RETRY_LATER: &[&str] = &["not enough funds", "balance", "active order"];
    const DEFINITIVE: &[&str] = &[
        "incorrect service",
        "incorrect link",
        "bad link",
        "incorrect quantity",
        "quantity less than",
        "quantity more than",
        "minimal",
        "maximum",
        "incorrect order id",
        "incorrect request",
        "refill not found",
    ];
    let message = message.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    if has(CONFIGURATION) {
        ErrorClass::Configuration
    } else if has(RETRY_LATER) {
        ErrorClass::RetryLater
    } else if has(DEFINITIVE) {
        ErrorClass::Definitive
    } else {
        ErrorClass::Unknown
    }
}

/// The reply to `add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddReply {
    /// The panel created the order with this id.
    Accepted { order: String },
    /// The panel refused; no order exists.
    Rejected(UpstreamError),
}

/// An order's status upstream (§1.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Pending,
    InProgress,
    Processing,
    Completed,
    Partial,
    Canceled,
    /// A status this codec does not know, as the panel spelled it (trimmed). Counts as still
    /// running.
    Other(String),
}

impl Status {
    /// Every documented status, in lifecycle order.
    pub const KNOWN: [Status; 6] = [
        Status::Pending,
        Status::InProgress,
        Status::Processing,
        Status::Completed,
        Status::Partial,
        Status::Canceled,
    ];

    /// Reads a panel's status: case-insensitive, ignoring spaces, underscores and hyphens
    /// (`"In progress"`, `"in_progress"`), with `"Cancelled"` for [`Status::Canceled`].
    /// Anything else is [`Status::Other`].
    pub fn parse(s: &str) -> Status {
        let key = fold(s);
        if key == "cancelled" {
            return Status::Canceled;
        }
        Status::KNOWN
            .into_iter()
            .find(|t| fold(t.as_str()) == key)
            .unwrap_or_else(|| Status::Other(s.trim().to_owned()))
    }

    /// Completed, Partial and Canceled: the panel will deliver nothing more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Completed | Status::Partial | Status::Canceled)
    }

    /// The snake_case name (`"in_progress"`); [`Status::Other`] gives its own text.
    /// [`Status::parse`] reads it back.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Pending => "pending",
            Status::InProgress => "in_progress",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Partial => "partial",
            Status::Canceled => "canceled",
            Status::Other(s) => s,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reply to `status` for one order. Every field but `status` is optional: a panel that
/// sends garbage in one of them loses that field, not the whole status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderStatus {
    pub status: Status,
    /// What the panel billed, as a plain decimal string (`"0.27819"`). On `Partial` it already
    /// reflects the refund of undelivered units.
    pub charge: Option<String>,
    pub start_count: Option<i64>,
    /// Undelivered units; negative on over-delivery.
    pub remains: Option<i64>,
    pub currency: Option<String>,
}

/// One order of a multi-order `status` reply: its id, and its status or inline error.
pub type StatusEntry = (String, Result<OrderStatus, UpstreamError>);

/// One order of a `cancel` reply: its id, and whether the panel accepted the cancel.
pub type CancelEntry = (String, Result<(), UpstreamError>);

/// The reply to `balance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The amount as a plain decimal string (`"100.84292"`).
    pub balance: String,
    pub currency: Option<String>,
}

/// Why a response body is not a reply we understand. For `add` this means the outcome is
/// unknown (§1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No body at all, or only whitespace.
    Empty,
    /// Not JSON (an HTML error page, truncated JSON, invalid UTF-8); the start of the body, at
    /// most 120 characters.
    NotJson(String),
    /// JSON, but not of the shape this action answers with. The text says what was found; for
    /// a top-level `{"error": …}` where none can be attributed (services, bulk replies) it is
    /// the panel's message itself.
    UnexpectedShape(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty response from the SMM panel"),
            ParseError::NotJson(snippet) => write!(f, "SMM panel response is not JSON: {snippet}"),
            ParseError::UnexpectedShape(what) => write!(f, "unexpected SMM panel response: {what}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses the catalogue (`action=services`): a JSON array, or the same array wrapped as
/// `{"services": […]}`.
///
/// Lenient per item: ids and numbers may be integers or strings; the id may also be named
/// `service_id` or `id`; a missing `type` means Default; missing `refill`/`cancel`/`dripfeed`
/// mean `false`. An item is **skipped** when it is not an object or when its id, `rate`, `min`
/// or `max` is missing or unreadable: a service we cannot identify, price or bound cannot be
/// sold. A top-level `{"error": …}` is [`ParseError::UnexpectedShape`] with the message.
pub fn parse_services(body: &[u8]) -> Result<Vec<ServiceInfo>, ParseError> {
    const SHAPE: &str = "an array of services";
    let value = parse_json(body)?;
    let items = match &value {
        Value::Array(items) => items,
        Value::Object(obj) => {
            if let Some(error) = upstream_error(obj) {
                return Err(ParseError::UnexpectedShape(error.message));
            }
            match obj.get("services") {
                Some(Value::Array(items)) => items,
                _ => return Err(unexpected(SHAPE, &value)),
            }
        }
        _ => return Err(unexpected(SHAPE, &value)),
    };
    Ok(items.iter().filter_map(service_info).collect())
}

fn service_info(item: &Value) -> Option<ServiceInfo> {
    let obj = item.as_object()?;
    let service =
        ["service", "service_id", "id"].into_iter().find_map(|k| obj.get(k).and_then(lenient_id))?;
    let service_type = match obj.get("type") {
        None | Some(Value::Null) => ServiceType::Default,
        Some(Value::String(s)) => ServiceType::parse(s),
        Some(other) => ServiceType::parse(&value_snippet(other)),
    };
    Some(ServiceInfo {
        service,
        name: lenient_text(obj.get("name")).unwrap_or_default(),
        service_type,
        category: lenient_text(obj.get("category")).unwrap_or_default(),
        rate_micros: obj.get("rate").and_then(lenient_micros)?,
        min: obj.get("min").and_then(lenient_u64)?,
        max: obj.get("max").and_then(lenient_u64)?,
        refill: lenient_bool(obj.get("refill")),
        cancel: lenient_bool(obj.get("cancel")),
        dripfeed: lenient_bool(obj.get("dripfeed")),
    })
}

/// Parses the reply to `add`: `{"order": 23501}` (or `"23501"`) is
/// [`AddReply::Accepted`], `{"error": …}` is [`AddReply::Rejected`]. If both appear the order
/// wins, since it exists upstream. An order id of zero, or anything else, is
/// [`ParseError::UnexpectedShape`]: an unknown outcome.
pub fn parse_add(body: &[u8]) -> Result<AddReply, ParseError> {
    const SHAPE: &str = r#"{"order": id} or {"error": message}"#;
    let value = parse_json(body)?;
    let obj = value.as_object().ok_or_else(|| unexpected(SHAPE, &value))?;
    if let Some(order) = obj.get("order").and_then(lenient_id) {
        return Ok(AddReply::Accepted { order });
    }
    match upstream_error(obj) {
        Some(error) => Ok(AddReply::Rejected(error)),
        None => Err(unexpected(SHAPE, &value)),
    }
}

/// HTTP 429 Too Many Requests: the panel (or a proxy in front of it) refused the call.
pub const TOO_MANY_REQUESTS: u16 = 429;

/// How an `add` ended, as far as we can know (§1.4, product §8 step 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// The panel created the order with this id.
    Accepted { order: String },
    /// Refused for good ([`ErrorClass::Definitive`]): the customer is refunded.
    Rejected(UpstreamError),
    /// Not taken: the panel created nothing, so the order may be sent again after a back-off.
    NotAccepted { why: crate::order::NotAccepted, detail: String },
    /// Maybe taken (a 5xx, a body we cannot read, a connection lost after sending): never
    /// resent automatically.
    Unknown(String),
}

/// Reads the answer to an `add` that reached the panel: a 429 is a refusal whatever its body
/// (a rate limiter answers before the panel does anything); a 5xx or a body that is not
/// `{"order": …}` / `{"error": …}` leaves the outcome unknown; a panel error is final when
/// [`classify`] says [`ErrorClass::Definitive`], and otherwise not accepted (to retry).
pub fn read_add_answer(http_status: u16, body: &[u8]) -> AddOutcome {
    use crate::order::NotAccepted;
    if http_status == TOO_MANY_REQUESTS {
        return AddOutcome::NotAccepted {
            why: NotAccepted::Throttled,
            detail: format!("HTTP 429: {}", snippet(body)),
        };
    }
    if http_status >= 500 {
        return AddOutcome::Unknown(format!("HTTP {http_status}: {}", snippet(body)));
    }
    match parse_add(body) {
        Ok(AddReply::Accepted { order }) => AddOutcome::Accepted { order },
        Ok(AddReply::Rejected(e)) if e.class == ErrorClass::Definitive => AddOutcome::Rejected(e),
        Ok(AddReply::Rejected(e)) => {
            AddOutcome::NotAccepted { why: NotAccepted::Refused, detail: e.message.clone() }
        }
        Err(e) => AddOutcome::Unknown(format!("HTTP {http_status}: {e}")),
    }
}

/// Parses the reply to a single `status`: the status object, or the panel's error (`Incorrect
/// order ID`). A reply without a string `status` is [`ParseError::UnexpectedShape`].
pub fn parse_status(body: &[u8]) -> Result<Result<OrderStatus, UpstreamError>, ParseError> {
    const SHAPE: &str = r#"a status object or {"error": message}"#;
    let value = parse_json(body)?;
    let obj = value.as_object().ok_or_else(|| unexpected(SHAPE, &value))?;
    if let Some(error) = upstream_error(obj) {
        return Ok(Err(error));
    }
    order_status(obj).map(Ok).ok_or_else(|| unexpected(SHAPE, &value))
}

/// Parses the reply to a multi-order `status`: an object keyed by order id, each value a status
/// object or an inline `{"error": …}`. Entries come back sorted by id (numerically for numeric
/// ids). An entry that is neither gets an [`ErrorClass::Unknown`] error saying so, so one odd
/// entry does not hide the others. A top-level `{"error": …}` is
/// [`ParseError::UnexpectedShape`] with the message, and so is a single-order status object.
pub fn parse_multi_status(body: &[u8]) -> Result<Vec<StatusEntry>, ParseError> {
    const SHAPE: &str = "an object of statuses keyed by order id";
    let value = parse_json(body)?;
    let obj = value.as_object().ok_or_else(|| unexpected(SHAPE, &value))?;
    if let Some(error) = upstream_error(obj) {
        return Err(ParseError::UnexpectedShape(error.message));
    }
    if matches!(obj.get("status"), Some(Value::String(_))) {
        return Err(unexpected(SHAPE, &value));
    }
    let mut entries: Vec<StatusEntry> = obj
        .iter()
        .map(|(id, entry)| {
            let result = match entry {
                Value::Object(o) => match upstream_error(o) {
                    Some(error) => Err(error),
                    None => order_status(o).ok_or_else(|| malformed("status entry", entry)),
                },
                _ => Err(malformed("status entry", entry)),
            };
            (id.clone(), result)
        })
        .collect();
    entries.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    Ok(entries)
}

/// Parses the reply to `balance`: `{"balance": "100.84292", "currency": "USD"}`, or the
/// panel's error.
pub fn parse_balance(body: &[u8]) -> Result<Result<Balance, UpstreamError>, ParseError> {
    const SHAPE: &str = r#"{"balance": amount} or {"error": message}"#;
    let value = parse_json(body)?;
    let obj = value.as_object().ok_or_else(|| unexpected(SHAPE, &value))?;
    if let Some(error) = upstream_error(obj) {
        return Ok(Err(error));
    }
    let balance = lenient_amount(obj.get("balance")).ok_or_else(|| unexpected(SHAPE, &value))?;
    Ok(Ok(Balance { balance, currency: lenient_text(obj.get("currency")) }))
}

/// Parses the reply to a single `refill`: `{"refill": "1"}` or `{"refill": 1}` gives the refill
/// id; `{"error": …}` (top-level, or as the value of `refill`) gives the panel's error.
pub fn parse_refill(body: &[u8]) -> Result<Result<String, UpstreamError>, ParseError> {
    const SHAPE: &str = r#"{"refill": id} or {"error": message}"#;
    let value = parse_json(body)?;
    let obj = value.as_object().ok_or_else(|| unexpected(SHAPE, &value))?;
    match obj.get("refill") {
        Some(Value::Object(inner)) => {
            if let Some(error) = upstream_error(inner) {
                return Ok(Err(error));
            }
        }
        Some(id) => {
            if let Some(id) = lenient_id(id) {
                return Ok(Ok(id));
            }
        }
        None => {}
    }
    match upstream_error(obj) {
        Some(error) => Ok(Err(error)),
        None => Err(unexpected(SHAPE, &value)),
    }
}

/// Parses the reply to `cancel`: `[{"order": 9, "cancel": {"error": …}}, {"order": 2,
/// "cancel": 1}]`, in the panel's order. A single such object without the array is accepted
/// too. `cancel` of `1`, `true` or a non-zero string is success; an inline error is that error;
/// `0`, `false` or a missing `cancel` is an [`ErrorClass::Unknown`] refusal (or the item's own
/// `error`). Items without a readable `order` are skipped: they cannot be attributed. A
/// top-level `{"error": …}` is [`ParseError::UnexpectedShape`] with the message.
pub fn parse_cancel(body: &[u8]) -> Result<Vec<CancelEntry>, ParseError> {
    const SHAPE: &str = r#"an array of {"order": id, "cancel": 1 | {"error": message}}"#;
    let value = parse_json(body)?;
    let items: &[Value] = match &value {
        Value::Array(items) => items,
        Value::Object(obj) if obj.contains_key("order") => std::slice::from_ref(&value),
        Value::Object(obj) => {
            return Err(match upstream_error(obj) {
                Some(error) => ParseError::UnexpectedShape(error.message),
                None => unexpected(SHAPE, &value),
            });
        }
        _ => return Err(unexpected(SHAPE, &value)),
    };
    Ok(items.iter().filter_map(cancel_item).collect())
}

fn cancel_item(item: &Value) -> Option<CancelEntry> {
    let obj = item.as_object()?;
    let order = obj.get("order").and_then(lenient_id)?;
    let result = match obj.get("cancel") {
        Some(Value::Object(inner)) => {
            Err(upstream_error(inner).unwrap_or_else(|| malformed("cancel entry", item)))
        }
        Some(flag) if truthy(flag) => Ok(()),
        _ => Err(upstream_error(obj).unwrap_or_else(|| malformed("cancel entry", item))),
    };
    Some((order, result))
}

/// A refill's status upstream (§1.2: `Pending`, `In progress`, `Completed`, `Rejected`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefillStatus {
    Pending,
    InProgress,
    Completed,
    Rejected,
    /// A status this codec does not know, as the panel spelled it (trimmed).
    Other(String),
}

impl RefillStatus {
    pub const KNOWN: [RefillStatus; 4] =
        [RefillStatus::Pending, RefillStatus::InProgress, RefillStatus::Completed, RefillStatus::Rejected];

    /// Reads a panel's refill status like [`Status::parse`] (case, spaces, `_` and `-`
    /// ignored); `Canceled`/`Cancelled`/`Refused` read as [`RefillStatus::Rejected`].
    pub fn parse(s: &str) -> RefillStatus {
        let key = fold(s);
        if matches!(key.as_str(), "canceled" | "cancelled" | "refused") {
            return RefillStatus::Rejected;
        }
        RefillStatus::KNOWN
            .into_iter()
            .find(|t| fold(t.as_str()) == key)
            .unwrap_or_else(|| RefillStatus::Other(s.trim().to_owned()))
    }

    /// The snake_case name; [`RefillStatus::Other`] gives its own text.
    pub fn as_str(&self) -> &str {
        match self {
            RefillStatus::Pending => "pending",
            RefillStatus::InProgress => "in_progress",
            RefillStatus::Completed => "completed",
            RefillStatus::Rejected => "rejected",
            RefillStatus::Other(s) => s,
        }
    }
}

impl fmt::Display for RefillStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refill of a multi-refill `refill_status` reply: its id, and its status or inline error.
pub type RefillStatusEntry = (String, Result<RefillStatus, UpstreamError>);

/// Parses the reply to `refill_status&refills=…`: `[{"refill": 1, "status": "Completed"},
/// {"refill": 3, "status": {"error": "Refill not found"}}]`, in the panel's order. A single
/// `{"refill": 1, "status": …}` object is accepted too. Items without a readable `refill` id are
/// skipped; an item whose status is neither a string nor an error gets an
/// [`ErrorClass::Unknown`] error. A top-level `{"error": …}` is [`ParseError::UnexpectedShape`]
/// with the message.
pub fn parse_refill_status(body: &[u8]) -> Result<Vec<RefillStatusEntry>, ParseError> {
    const SHAPE: &str = r#"an array of {"refill": id, "status": text | {"error": message}}"#;
    let value = parse_json(body)?;
    let items: &[Value] = match &value {
        Value::Array(items) => items,
        Value::Object(obj) if obj.contains_key("refill") => std::slice::from_ref(&value),
        Value::Object(obj) => {
            return Err(match upstream_error(obj) {
                Some(error) => ParseError::UnexpectedShape(error.message),
                None => unexpected(SHAPE, &value),
            });
        }
        _ => return Err(unexpected(SHAPE, &value)),
    };
    Ok(items.iter().filter_map(refill_status_item).collect())
}

fn refill_status_item(item: &Value) -> Option<RefillStatusEntry> {
    let obj = item.as_object()?;
    let refill = obj.get("refill").and_then(lenient_id)?;
    let result = match obj.get("status") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(RefillStatus::parse(s)),
        Some(Value::Object(inner)) => {
            Err(upstream_error(inner).unwrap_or_else(|| malformed("refill status entry", item)))
        }
        _ => Err(upstream_error(obj).unwrap_or_else(|| malformed("refill status entry", item))),
    };
    Some((refill, result))
}

/// Parses a non-negative decimal string (`"0.90"`, `"8"`, `"1.234567891"`, surrounding
/// whitespace allowed) into millionths, exactly. Digits beyond the sixth decimal round **up**
/// (the panel's price is never under-stated). `None` for a sign, an exponent, any other
/// character, no digits at all, or a result beyond `u64`.
pub fn decimal_to_micros(s: &str) -> Option<u64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut micros: u64 = 0;
    for digit in int.bytes().map(|b| u64::from(b - b'0')) {
        micros = micros.checked_mul(10)?.checked_add(digit)?;
    }
    micros = micros.checked_mul(1_000_000)?;
    let mut place = 100_000;
    let mut beyond = false;
    for (i, digit) in frac.bytes().map(|b| u64::from(b - b'0')).enumerate() {
        if i < 6 {
            micros = micros.checked_add(digit * place)?;
            place /= 10;
        } else if digit != 0 {
            beyond = true;
        }
    }
    if beyond {
        micros = micros.checked_add(1)?;
    }
    Some(micros)
}

// ---------------------------------------------------------------------------------------------
// Lenient decoding
// ---------------------------------------------------------------------------------------------

/// The body as JSON. A UTF-8 byte-order mark is skipped. serde_json's recursion limit keeps
/// deeply nested input from exhausting the stack.
fn parse_json(body: &[u8]) -> Result<Value, ParseError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    serde_json::from_slice(body).map_err(|_| ParseError::NotJson(snippet(body)))
}

fn unexpected(expected: &str, got: &Value) -> ParseError {
    ParseError::UnexpectedShape(format!("expected {expected}, got {}", value_snippet(got)))
}

/// The per-item error for a bulk entry we cannot read. Built directly, not via [`classify`],
/// so the quoted JSON cannot make it look like a known panel message.
fn malformed(what: &str, entry: &Value) -> UpstreamError {
    UpstreamError {
        message: format!("unreadable {what}: {}", value_snippet(entry)),
        class: ErrorClass::Unknown,
    }
}

/// The panel's error in `obj`, if it has one: a non-blank `error` string; `"error": true` with
/// the text in `message`; or any other non-null, non-false `error` value as JSON text.
/// `"error": ""`, `null` and `false` mean no error.
fn upstream_error(obj: &Map<String, Value>) -> Option<UpstreamError> {
    match obj.get("error")? {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(UpstreamError::new(s)),
        Value::Bool(true) => match obj.get("message") {
            Some(Value::String(m)) if !m.trim().is_empty() => Some(UpstreamError::new(m)),
            _ => Some(UpstreamError::new("error")),
        },
        other => Some(UpstreamError::new(&value_snippet(other))),
    }
}

/// The status object in `obj`, if it has a string `status`; every other field is optional and
/// dropped when unreadable.
fn order_status(obj: &Map<String, Value>) -> Option<OrderStatus> {
    let status = match obj.get("status")? {
        Value::String(s) => Status::parse(s),
        _ => return None,
    };
    Some(OrderStatus {
        status,
        charge: lenient_amount(obj.get("charge")),
        start_count: obj.get("start_count").and_then(lenient_i64),
        remains: obj.get("remains").and_then(lenient_i64),
        currency: lenient_text(obj.get("currency")),
    })
}

/// An order, service or refill id: a positive integer (or an integral float) as its decimal
/// text, or a trimmed string of 1..=64 characters without control characters or commas (a comma
/// would break the bulk forms). Zero (`0`, `"000"`) is not an id.
fn lenient_id(value: &Value) -> Option<String> {
    let id = match value {
        Value::Number(n) => match n.as_u64() {
            Some(u) => u.to_string(),
            None => {
                let f = n.as_f64()?;
                if !(f.is_finite() && f.fract() == 0.0 && (1.0..18_446_744_073_709_551_616.0).contains(&f)) {
                    return None;
                }
                format!("{f:.0}")
            }
        },
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let valid = !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && !id.chars().any(|c| c.is_control() || c == ',')
        && !id.bytes().all(|b| b == b'0');
    valid.then_some(id)
}

/// A display string: a JSON string trimmed, or a number's text; `None` when missing or blank.
fn lenient_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim()).filter(|t| !t.is_empty()).map(str::to_owned),
        Value::Number(n) => Some(plain_decimal(n)),
        _ => None,
    }
}

/// An amount kept as text (`charge`, `balance`): a string trimmed, or a number as a plain
/// decimal (a float `1e-7` becomes `"0.0000001"`).
fn lenient_amount(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| expand_exponent(t).unwrap_or_else(|| t.to_owned()))
        }
        Value::Number(n) => Some(plain_decimal(n)),
        _ => None,
    }
}

/// A rate in millionths: a decimal string or number, exponent notation included.
fn lenient_micros(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => decimal_to_micros(&plain_decimal(n)),
        Value::String(s) => decimal_to_micros(s).or_else(|| decimal_to_micros(&expand_exponent(s)?)),
        _ => None,
    }
}

/// An integer from a JSON integer, an integral float, or a string of either (surrounding
/// whitespace allowed): `157`, `"157"`, `" -2 "`, `157.0`, `"157.00"`.
fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| if n.is_u64() { None } else { float_to_i64(n.as_f64()?) }),
        Value::String(s) => str_to_i64(s),
        _ => None,
    }
}

/// A non-negative integer, read like [`lenient_i64`] but up to `u64::MAX`.
fn lenient_u64(value: &Value) -> Option<u64> {
    let direct = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    direct.or_else(|| u64::try_from(lenient_i64(value)?).ok())
}

fn float_to_i64(f: f64) -> Option<i64> {
    // -2^63 ..= 2^63 (exclusive) is exactly the range an f64 can convert to i64 without loss.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
    (f.fract() == 0.0 && in_range).then_some(f as i64)
}

fn str_to_i64(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(i) = s.parse() {
        return Some(i);
    }
    let (int, frac) = s.split_once('.')?;
    if frac.is_empty() || !frac.bytes().all(|b| b == b'0') {
        return None;
    }
    int.parse().ok()
}

/// A boolean flag: `true`, a non-zero number, or a string `"true"`, `"1"`, `"yes"`, `"on"`
/// (any case). Missing or anything else is `false`.
fn lenient_bool(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => matches!(fold(s).as_str(), "true" | "1" | "yes" | "on"),
        _ => false,
    }
}

/// Whether a bulk `cancel` value means success: `true`, a non-zero number, or a non-blank
/// string other than `"0"`/`"false"`/`"no"`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !matches!(fold(s).as_str(), "" | "0" | "false" | "no"),
        _ => false,
    }
}

/// A JSON number as plain decimal text: integers as they are, floats without exponent notation.
fn plain_decimal(n: &Number) -> String {
    let text = n.to_string();
    expand_exponent(&text).unwrap_or(text)
}

/// Rewrites exponent notation as a plain decimal: `1.5e-7` → `0.00000015`, `2E3` → `2000`.
/// `None` if `s` is not a decimal with an exponent, or the exponent is beyond ±400 (no amount
/// is that large or small; the bound keeps the output short).
fn expand_exponent(s: &str) -> Option<String> {
    let (mantissa, exponent) = s.trim().split_once(['e', 'E'])?;
    let exponent: i32 = exponent.parse().ok()?;
    if !(-400..=400).contains(&exponent) {
        return None;
    }
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let point = i64::try_from(int.len()).ok()? + i64::from(exponent);
    let len = i64::try_from(digits.len()).ok()?;
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat(usize::try_from(-point).ok()?));
        out.push_str(&digits);
    } else if point >= len {
        out.push_str(&digits);
        out.push_str(&"0".repeat(usize::try_from(point - len).ok()?));
    } else {
        let (whole, fraction) = digits.split_at(usize::try_from(point).ok()?);
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "k3y";

    fn form(pairs: &[(&'static str, &str)]) -> Form {
        pairs.iter().map(|&(k, v)| (k, v.to_owned())).collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| i.to_string()).collect()
    }

    fn order<'a>(service_type: &'a ServiceType) -> AddOrder<'a> {
        AddOrder {
            service: "1",
            service_type,
            link: "https://www.instagram.com/p/abc/",
            quantity: 100,
            comments: None,
            drip: None,
            params: &NO_PARAMS,
        }
    }

    // --- service types -------------------------------------------------------------------

    #[test]
    fn service_type_parse_table() {
        let cases: &[(&str, ServiceType)] = &[
            ("Default", ServiceType::Default),
            ("default", ServiceType::Default),
            (" DEFAULT ", ServiceType::Default),
            ("Package", ServiceType::Package),
            ("Custom Comments", ServiceType::CustomComments),
            ("custom_comments", ServiceType::CustomComments),
            ("CUSTOM-COMMENTS", ServiceType::CustomComments),
            ("customcomments", ServiceType::CustomComments),
            ("Custom Comments Package", ServiceType::CustomCommentsPackage),
            ("Mentions", ServiceType::Mentions),
            ("Mentions with Hashtags", ServiceType::MentionsWithHashtags),
            ("Mentions Custom List", ServiceType::MentionsCustomList),
            ("Mentions Hashtag", ServiceType::MentionsHashtag),
            ("Mentions User Followers", ServiceType::MentionsUserFollowers),
            ("Mentions Media Likers", ServiceType::MentionsMediaLikers),
            ("Comment Likes", ServiceType::CommentLikes),
            ("Comment Replies", ServiceType::CommentReplies),
            ("Poll", ServiceType::Poll),
            ("Invites from Groups", ServiceType::InvitesFromGroups),
            ("Subscriptions", ServiceType::Subscriptions),
            ("Subscription", ServiceType::Subscriptions),
            ("Web Traffic", ServiceType::WebTraffic),
            ("web_traffic", ServiceType::WebTraffic),
            (" SEO ", ServiceType::Other("SEO".into())),
            ("", ServiceType::Other(String::new())),
        ];
        for (text, want) in cases {
            assert_eq!(&ServiceType::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn service_type_names_round_trip() {
        for t in ServiceType::KNOWN {
            assert_eq!(ServiceType::parse(t.as_str()), t);
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(ServiceType::Default.as_str(), "default");
        assert_eq!(ServiceType::CustomCommentsPackage.as_str(), "custom_comments_package");
        assert_eq!(ServiceType::WebTraffic.as_str(), "web_traffic");
        assert_eq!(ServiceType::Other("SEO".into()).as_str(), "SEO");
        assert_eq!(ServiceType::parse("SEO").as_str(), "SEO");
    }

    #[test]
    fn panel_names_read_back() {
        for t in ServiceType::KNOWN {
            assert_eq!(ServiceType::parse(t.panel_name()), t, "{}", t.panel_name());
        }
        assert_eq!(ServiceType::CustomComments.panel_name(), "Custom Comments");
        assert_eq!(ServiceType::InvitesFromGroups.panel_name(), "Invites from Groups");
        assert_eq!(ServiceType::Other("SEO".into()).panel_name(), "SEO");
    }

    #[test]
    fn service_type_capabilities_table() {
        use ServiceType as T;
        // (type, takes_quantity, takes_comments, supports_dripfeed), per §1.2.
        let cases: &[(ServiceType, bool, bool, bool)] = &[
            (T::Default, true, false, true),
            (T::Package, false, false, false),
            (T::CustomComments, false, true, false),
            (T::CustomCommentsPackage, false, true, false),
            (T::Mentions, true, false, false),
            (T::MentionsWithHashtags, true, false, false),
            (T::MentionsCustomList, false, false, false),
            (T::MentionsHashtag, true, false, false),
            (T::MentionsUserFollowers, true, false, false),
            (T::MentionsMediaLikers, true, false, false),
            (T::CommentLikes, true, false, false),
            (T::CommentReplies, false, true, false),
            (T::Poll, true, false, false),
            (T::InvitesFromGroups, true, false, false),
            (T::Subscriptions, false, false, false),
            (T::WebTraffic, true, false, true),
            (T::Other("SEO".into()), true, false, false),
        ];
        assert_eq!(cases.len(), ServiceType::KNOWN.len() + 1);
        for (t, quantity, comments, drip) in cases {
            assert_eq!(t.takes_quantity(), *quantity, "{t:?} quantity");
            assert_eq!(t.takes_comments(), *comments, "{t:?} comments");
            assert_eq!(t.supports_dripfeed(), *drip, "{t:?} dripfeed");
        }
    }

    // --- builders ------------------------------------------------------------------------

    #[test]
    fn simple_forms() {
        assert_eq!(services_form(KEY), form(&[("key", KEY), ("action", "services")]));
        assert_eq!(balance_form(KEY), form(&[("key", KEY), ("action", "balance")]));
        assert_eq!(
            status_form(KEY, "23501"),
            form(&[("key", KEY), ("action", "status"), ("order", "23501")])
        );
        assert_eq!(refill_form(KEY, " 7 "), form(&[("key", KEY), ("action", "refill"), ("order", "7")]));
    }

    #[test]
    fn add_form_default_without_drip_sends_no_runs() {
        let t = ServiceType::Default;
        let got = add_form(KEY, &order(&t)).unwrap();
        assert_eq!(
            got,
            form(&[
                ("key", KEY),
                ("action", "add"),
                ("service", "1"),
                ("link", "https://www.instagram.com/p/abc/"),
                ("quantity", "100"),
            ])
        );
        assert!(!got.iter().any(|(k, _)| *k == "runs" || *k == "interval"));
    }

    #[test]
    fn add_form_drip_feed() {
        let web = params(&[("country", "KR"), ("device", "1"), ("type_of_traffic", "3")]);
        for (t, p) in [(ServiceType::Default, &NO_PARAMS), (ServiceType::WebTraffic, &web)] {
            let o = AddOrder {
                quantity: 400,
                drip: Some(Drip { runs: 30, interval: 1440 }),
                params: p,
                ..order(&t)
            };
            let mut want = form(&[
                ("key", KEY),
                ("action", "add"),
                ("service", "1"),
                ("link", "https://www.instagram.com/p/abc/"),
                ("quantity", "400"),
                ("runs", "30"),
                ("interval", "1440"),
            ]);
            if t == ServiceType::WebTraffic {
                want.extend(form(&[("country", "KR"), ("device", "1"), ("type_of_traffic", "3")]));
            }
            assert_eq!(add_form(KEY, &o).unwrap(), want, "{t:?}");
        }
    }

    #[test]
    fn add_form_package_sends_no_quantity() {
        let t = ServiceType::Package;
        assert_eq!(
            add_form(KEY, &AddOrder { quantity: 0, ..order(&t) }).unwrap(),
            form(&[
                ("key", KEY),
                ("action", "add"),
                ("service", "1"),
                ("link", "https://www.instagram.com/p/abc/")
            ])
        );
    }

    #[test]
    fn add_form_custom_comments_keeps_line_breaks() {
        for t in [ServiceType::CustomComments, ServiceType::CustomCommentsPackage] {
            let o = AddOrder { comments: Some("nice!\r\n좋아요 👍\nwow"), ..order(&t) };
            assert_eq!(
                add_form(KEY, &o).unwrap(),
                form(&[
                    ("key", KEY),
                    ("action", "add"),
                    ("service", "1"),
                    ("link", "https://www.instagram.com/p/abc/"),
                    ("comments", "nice!\r\n좋아요 👍\nwow"),
                ]),
                "{t:?}"
            );
        }
    }

    #[test]
    fn add_form_ignores_comments_for_types_without_them() {
        let t = ServiceType::Default;
        let got = add_form(KEY, &AddOrder { comments: Some("x"), ..order(&t) }).unwrap();
        assert!(!got.iter().any(|(k, _)| *k == "comments"));
    }

    #[test]
    fn add_form_errors() {
        let default = ServiceType::Default;
        let package = ServiceType::Package;
        let comments = ServiceType::CustomComments;
        let drip = Some(Drip { runs: 10, interval: 60 });
        let cases: Vec<(AddOrder<'_>, BuildError)> = vec![
            (AddOrder { drip, ..order(&package) }, BuildError::DripNotSupported(ServiceType::Package)),
            (
                AddOrder { drip, ..order(&comments) },
                BuildError::DripNotSupported(ServiceType::CustomComments),
            ),
            (order(&comments), BuildError::MissingComments),
            (AddOrder { comments: Some(""), ..order(&comments) }, BuildError::MissingComments),
            (AddOrder { comments: Some(" \r\n "), ..order(&comments) }, BuildError::MissingComments),
            (AddOrder { service: " ", ..order(&default) }, BuildError::EmptyField("service")),
            (AddOrder { link: "", ..order(&default) }, BuildError::EmptyField("link")),
            (AddOrder { quantity: 0, ..order(&default) }, BuildError::EmptyField("quantity")),
            (
                AddOrder { drip: Some(Drip { runs: 0, interval: 60 }), ..order(&default) },
                BuildError::EmptyField("runs"),
            ),
            (
                AddOrder { drip: Some(Drip { runs: 10, interval: 0 }), ..order(&default) },
                BuildError::EmptyField("interval"),
            ),
        ];
        for (o, want) in cases {
            assert_eq!(add_form(KEY, &o), Err(want), "{o:?}");
        }
        assert_eq!(add_form("", &order(&default)), Err(BuildError::EmptyField("key")));
    }

    #[test]
    fn add_form_refuses_only_unknown_types() {
        let t = ServiceType::Other("SEO".into());
        let o = AddOrder { comments: Some("a\nb"), ..order(&t) };
        assert_eq!(add_form(KEY, &o), Err(BuildError::UnsupportedType(t.clone())));
        for t in ServiceType::KNOWN {
            assert!(t.spec().is_some(), "{t}");
        }
    }

    fn params(pairs: &[(&str, &str)]) -> OrderParams {
        pairs.iter().map(|&(k, v)| (k, v)).collect()
    }

    /// Each type: the raw parameters of a valid order, the form `add_form` sends (after the
    /// key, action and service) from what `check_params` kept, and the quantity they fix.
    #[test]
    fn type_table_checks_and_sends_exactly_the_types_parameters() {
        use ServiceType as T;
        const LINK: &str = "https://www.instagram.com/p/abc/";
        type Pairs = Vec<(&'static str, &'static str)>;
        let cases: Vec<(T, Pairs, Pairs, Option<u64>)> = vec![
            (T::Default, vec![("usernames", "x")], vec![("link", LINK), ("quantity", "100")], None),
            (T::Package, vec![], vec![("link", LINK)], None),
            (
                T::CustomComments,
                vec![("comments", "a\r\nb\n\n")],
                vec![("link", LINK), ("comments", "a\nb\n\n")],
                Some(2),
            ),
            (
                T::Mentions,
                vec![("usernames", " a \r\n\nb\n"), ("hashtags", "x")],
                vec![("link", LINK), ("quantity", "100"), ("usernames", "a\nb")],
                None,
            ),
            (
                T::MentionsWithHashtags,
                vec![("usernames", "a"), ("hashtags", "#x\n#y")],
                vec![("link", LINK), ("quantity", "100"), ("usernames", "a"), ("hashtags", "#x\n#y")],
                None,
            ),
            (
                T::MentionsCustomList,
                vec![("usernames", "a\nb\nc")],
                vec![("link", LINK), ("usernames", "a\nb\nc")],
                Some(3),
            ),
            (
                T::MentionsHashtag,
                vec![("hashtag", " #kr ")],
                vec![("link", LINK), ("quantity", "100"), ("hashtag", "#kr")],
                None,
            ),
            (
                T::MentionsUserFollowers,
                vec![("username", "u")],
                vec![("link", LINK), ("quantity", "100"), ("username", "u")],
                None,
            ),
            (
                T::MentionsMediaLikers,
                vec![("media", "m")],
                vec![("link", LINK), ("quantity", "100"), ("media", "m")],
                None,
            ),
            (
                T::CommentLikes,
                vec![("username", "u")],
                vec![("link", LINK), ("quantity", "100"), ("username", "u")],
                None,
            ),
            (
                T::CommentReplies,
                vec![("username", "u"), ("comments", "x\ny")],
                vec![("link", LINK), ("username", "u"), ("comments", "x\ny")],
                Some(2),
            ),
            (
                T::Poll,
                vec![("answer_number", " 02")],
                vec![("link", LINK), ("quantity", "100"), ("answer_number", "2")],
                None,
            ),
            (
                T::InvitesFromGroups,
                vec![("groups", "g1\ng2")],
                vec![("link", LINK), ("quantity", "100"), ("groups", "g1\ng2")],
                None,
            ),
            (
                T::Subscriptions,
                vec![("username", "u"), ("min", "10"), ("max", "20"), ("posts", "3"), ("delay", "30")],
                vec![("username", "u"), ("min", "10"), ("max", "20"), ("posts", "3"), ("delay", "30")],
                Some(60),
            ),
            (
                T::Subscriptions,
                vec![
                    ("username", "u"),
                    ("min", "10"),
                    ("max", "10"),
                    ("posts", "1"),
                    ("old_posts", "2"),
                    ("delay", "0"),
                    ("expiry", "31/12/2026"),
                ],
                vec![
                    ("username", "u"),
                    ("min", "10"),
                    ("max", "10"),
                    ("posts", "1"),
                    ("old_posts", "2"),
                    ("delay", "0"),
                    ("expiry", "31/12/2026"),
                ],
                Some(10),
            ),
            (
                T::WebTraffic,
                vec![
                    ("country", "KR"),
                    ("device", "2"),
                    ("type_of_traffic", "1"),
                    ("google_keyword", "k"),
                    ("referring_url", "r"),
                ],
                vec![
                    ("link", LINK),
                    ("quantity", "100"),
                    ("country", "KR"),
                    ("device", "2"),
                    ("type_of_traffic", "1"),
                    ("google_keyword", "k"),
                ],
                None,
            ),
            (
                T::WebTraffic,
                vec![("country", "KR"), ("device", "5"), ("type_of_traffic", "3"), ("google_keyword", "k")],
                vec![
                    ("link", LINK),
                    ("quantity", "100"),
                    ("country", "KR"),
                    ("device", "5"),
                    ("type_of_traffic", "3"),
                ],
                None,
            ),
        ];
        for (t, given, sent, quantity) in cases {
            let checked = check_params(&t, &params(&given)).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(checked.quantity, quantity, "{t}");
            let o = AddOrder { link: LINK, params: &checked.params, ..order(&t) };
            let mut want = form(&[("key", KEY), ("action", "add"), ("service", "1")]);
            want.extend(form(&sent));
            assert_eq!(add_form(KEY, &o).unwrap(), want, "{t}");
        }
    }

    #[test]
    fn type_table_refusals_name_the_field() {
        use ParamProblem as P;
        use ServiceType as T;
        let sub = |extra: &[(&'static str, &'static str)]| {
            let mut p =
                vec![("username", "u"), ("min", "10"), ("max", "20"), ("posts", "3"), ("delay", "30")];
            p.extend_from_slice(extra);
            p
        };
        let long = "m".repeat(MAX_TEXT_CHARS + 1);
        let web = |tot: &'static str| vec![("country", "KR"), ("device", "1"), ("type_of_traffic", tot)];
        type Case<'a> = (T, Vec<(&'a str, &'a str)>, &'static str, P);
        let cases: Vec<Case<'_>> = vec![
            (T::Mentions, vec![], "usernames", P::Missing),
            (T::Mentions, vec![("usernames", " \n \r\n")], "usernames", P::Missing),
            (T::MentionsWithHashtags, vec![("usernames", "a")], "hashtags", P::Missing),
            (T::MentionsCustomList, vec![], "usernames", P::Missing),
            (T::MentionsHashtag, vec![("hashtag", "a\nb")], "hashtag", P::NotOneLine),
            (T::MentionsUserFollowers, vec![], "username", P::Missing),
            (T::MentionsMediaLikers, vec![("media", &long)], "media", P::TooLong),
            (T::CommentLikes, vec![], "username", P::Missing),
            (T::CommentReplies, vec![("comments", "x")], "username", P::Missing),
            (T::Poll, vec![("answer_number", "0")], "answer_number", P::OutOfRange { min: 1, max: COUNT }),
            (T::Poll, vec![("answer_number", "two")], "answer_number", P::NotAnInteger),
            (T::Poll, vec![("answer_number", "-1")], "answer_number", P::NotAnInteger),
            (T::InvitesFromGroups, vec![], "groups", P::Missing),
            (T::WebTraffic, vec![("device", "1"), ("type_of_traffic", "3")], "country", P::Missing),
            (
                T::WebTraffic,
                vec![("country", "KR"), ("device", "6"), ("type_of_traffic", "3")],
                "device",
                P::OutOfRange { min: 1, max: 5 },
            ),
            (T::WebTraffic, web("4"), "type_of_traffic", P::OutOfRange { min: 1, max: 3 }),
            (T::WebTraffic, web("1"), "google_keyword", P::Missing),
            (T::WebTraffic, web("2"), "referring_url", P::Missing),
            (T::Subscriptions, sub(&[("delay", "7")]), "delay", P::NotOneOf(SUBSCRIPTION_DELAYS)),
            (T::Subscriptions, sub(&[("posts", "0")]), "posts", P::OutOfRange { min: 1, max: MAX_POSTS }),
            (T::Subscriptions, sub(&[("max", "5")]), "max", P::Invalid("max must not be below min")),
            (T::Subscriptions, sub(&[("expiry", "2026-12-31")]), "expiry", P::NotADate),
            (T::Subscriptions, sub(&[("expiry", "32/1/2026")]), "expiry", P::NotADate),
            (
                T::Subscriptions,
                vec![("min", "1"), ("max", "2"), ("posts", "1"), ("delay", "0")],
                "username",
                P::Missing,
            ),
            (
                T::Subscriptions,
                vec![("username", "u"), ("min", "1"), ("max", "2"), ("delay", "0")],
                "posts",
                P::Missing,
            ),
        ];
        for (t, given, field, problem) in cases {
            let got = check_params(&t, &params(&given));
            assert_eq!(got, Err(ParamError { field, problem }), "{t} {given:?}");
            assert!(got.unwrap_err().to_string().contains(field));
        }
        let missing = check_params(&T::CustomComments, &OrderParams::new()).unwrap_err();
        assert_eq!(missing.field, "comments");
        assert!(matches!(missing.problem, P::Invalid(_)));
    }

    #[test]
    fn add_form_needs_the_stored_parameters() {
        let t = ServiceType::Mentions;
        assert_eq!(add_form(KEY, &order(&t)), Err(BuildError::EmptyField("usernames")));
        let t = ServiceType::CommentReplies;
        let p = params(&[("username", "u")]);
        assert_eq!(add_form(KEY, &AddOrder { params: &p, ..order(&t) }), Err(BuildError::MissingComments));
        let p = params(&[("username", "u"), ("comments", "x")]);
        assert!(add_form(KEY, &AddOrder { params: &p, ..order(&t) }).is_ok());
        let t = ServiceType::Subscriptions;
        let p = params(&[("username", "u"), ("min", "1"), ("max", "2"), ("posts", "1"), ("delay", "0")]);
        let got = add_form(KEY, &AddOrder { link: "", quantity: 0, params: &p, ..order(&t) }).unwrap();
        assert!(!got.iter().any(|(k, _)| *k == "link" || *k == "quantity"));
        let drip = Some(Drip { runs: 2, interval: 5 });
        assert_eq!(
            add_form(KEY, &AddOrder { drip, params: &p, ..order(&t) }),
            Err(BuildError::DripNotSupported(t.clone()))
        );
    }

    #[test]
    fn type_table_is_consistent() {
        assert!(ServiceType::all_param_names().contains(&"usernames"));
        assert!(ServiceType::all_param_names().contains(&"comments"));
        for t in ServiceType::KNOWN {
            let spec = t.spec().unwrap_or_else(|| panic!("{t}"));
            assert_eq!(spec.link, t != ServiceType::Subscriptions, "{t}");
            for p in spec.params {
                if let Need::When(other, _) = p.need {
                    assert!(
                        spec.params.iter().take_while(|q| q.name != p.name).any(|q| q.name == other),
                        "{t}"
                    );
                }
            }
            if let QuantityRule::LinesOf(name) = spec.quantity {
                assert!(spec.params.iter().any(|p| p.name == name), "{t}");
            }
        }
        let stored = serde_json::to_string(&params(&[("b", "2"), ("a", "x\ny")])).unwrap();
        assert_eq!(stored, r#"{"a":"x\ny","b":"2"}"#);
    }

    #[test]
    fn bulk_forms() {
        let three: Vec<String> = vec!["1".into(), " 10".into(), "100".into()];
        assert_eq!(
            multi_status_form(KEY, &three).unwrap(),
            form(&[("key", KEY), ("action", "status"), ("orders", "1,10,100")])
        );
        assert_eq!(
            cancel_form(KEY, &three).unwrap(),
            form(&[("key", KEY), ("action", "cancel"), ("orders", "1,10,100")])
        );
        let hundred = ids(MAX_BULK);
        let want = hundred.join(",");
        assert_eq!(multi_status_form(KEY, &hundred).unwrap()[2], ("orders", want.clone()));
        assert_eq!(cancel_form(KEY, &hundred).unwrap()[2], ("orders", want));
        assert_eq!(multi_status_form(KEY, &ids(101)), Err(BuildError::TooManyIds(101)));
        assert_eq!(cancel_form(KEY, &ids(101)), Err(BuildError::TooManyIds(101)));
        assert_eq!(multi_status_form(KEY, &[]), Err(BuildError::NoIds));
        assert_eq!(cancel_form(KEY, &[]), Err(BuildError::NoIds));
        assert_eq!(multi_status_form(KEY, &["1".into(), " ".into()]), Err(BuildError::EmptyField("orders")));
    }

    #[test]
    fn encode_form_table() {
        let cases: &[(Form, &str)] = &[
            (services_form("abc123"), "key=abc123&action=services"),
            (form(&[("key", "a b+c")]), "key=a+b%2Bc"),
            (form(&[("comments", "x\r\ny&z=ü")]), "comments=x%0D%0Ay%26z%3D%C3%BC"),
            (form(&[("link", "https://t.co/A_b-c.d~e?x=1")]), "link=https%3A%2F%2Ft.co%2FA_b-c.d~e%3Fx%3D1"),
            (form(&[("comments", "좋아요")]), "comments=%EC%A2%8B%EC%95%84%EC%9A%94"),
            (form(&[("a", ""), ("b", "%")]), "a=&b=%25"),
            (Vec::new(), ""),
        ];
        for (f, want) in cases {
            assert_eq!(encode_form(f), *want, "{f:?}");
        }
    }

    #[test]
    fn build_error_display() {
        assert_eq!(BuildError::TooManyIds(101).to_string(), "101 ids in one request, at most 100 allowed");
        assert_eq!(
            BuildError::DripNotSupported(ServiceType::Package).to_string(),
            "service type `package` has no drip-feed"
        );
        assert_eq!(BuildError::EmptyField("link").to_string(), "field `link` must not be empty or zero");
    }

    // --- decimals ------------------------------------------------------------------------

    #[test]
    fn decimal_to_micros_table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0.90", Some(900_000)),
            ("8", Some(8_000_000)),
            ("0", Some(0)),
            ("0.000001", Some(1)),
            ("0.0000001", Some(1)),
            ("0.0000000", Some(0)),
            ("1.234567891", Some(1_234_568)),
            ("1.2345670000", Some(1_234_567)),
            (" 12 ", Some(12_000_000)),
            ("0.27819", Some(278_190)),
            ("100.84292", Some(100_842_920)),
            ("5.", Some(5_000_000)),
            (".5", Some(500_000)),
            ("007.5", Some(7_500_000)),
            ("18446744073709.551615", Some(u64::MAX)),
            ("18446744073709.5516150", Some(u64::MAX)),
            ("18446744073709.5516151", None),
            ("18446744073709.551616", None),
            ("18446744073710", None),
            ("99999999999999999999999", None),
            ("", None),
            (".", None),
            ("-1", None),
            ("+1", None),
            ("1e3", None),
            ("1,5", None),
            ("1.2.3", None),
            ("١", None),
            ("NaN", None),
        ];
        for &(text, want) in cases {
            assert_eq!(decimal_to_micros(text), want, "{text:?}");
        }
    }

    #[test]
    fn expand_exponent_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1e-7", Some("0.0000001")),
            ("1.5e-7", Some("0.00000015")),
            ("2E3", Some("2000")),
            ("1.25e1", Some("12.5")),
            ("-3e2", Some("-300")),
            ("0.5e0", Some("0.5")),
            ("1e401", None),
            ("1e-401", None),
            ("12", None),
            ("e5", None),
            ("1ee5", None),
            ("1.e", None),
        ];
        for &(text, want) in cases {
            assert_eq!(expand_exponent(text).as_deref(), want, "{text:?}");
        }
        assert_eq!(expand_exponent("1e400").map(|s| s.len()), Some(401));
    }

    // --- classify ------------------------------------------------------------------------

    #[test]
    fn classify_every_known_message() {
        let cases: &[(&str, ErrorClass)] = &[
            ("Not enough funds on balance", ErrorClass::RetryLater),
            (
                "You have active order with this link. Please wait until order being completed.",
                ErrorClass::RetryLater,
            ),
            ("Quantity less than minimal 1000", ErrorClass::Definitive),
            ("Quantity more than maximum 1000", ErrorClass::Definitive),
            ("Incorrect service ID", ErrorClass::Definitive),
            ("Incorrect link", ErrorClass::Definitive),
            ("Bad link", ErrorClass::Definitive),
            ("Incorrect quantity", ErrorClass::Definitive),
            ("Incorrect order ID", ErrorClass::Definitive),
            ("Refill not found", ErrorClass::Definitive),
            ("Incorrect request", ErrorClass::Definitive),
            ("Invalid API key", ErrorClass::Configuration),
            ("Incorrect API key", ErrorClass::Configuration),
            ("invalid key", ErrorClass::Configuration),
            ("INCORRECT KEY", ErrorClass::Configuration),
            ("NOT ENOUGH FUNDS", ErrorClass::RetryLater),
            ("Your balance is too low", ErrorClass::RetryLater),
            ("Service is temporarily disabled", ErrorClass::Unknown),
            ("", ErrorClass::Unknown),
        ];
        for &(message, want) in cases {
            assert_eq!(classify(message), want, "{message:?}");
        }
    }

    // --- parsers: common failure modes ----------------------------------------------------

    /// Runs every parser on `body` and returns whether each failed with `want`.
    fn all_parsers_fail_with(body: &[u8], want: impl Fn(&ParseError) -> bool) {
        let results = [
            parse_services(body).err(),
            parse_add(body).err(),
            parse_status(body).err(),
            parse_multi_status(body).err(),
            parse_balance(body).err(),
            parse_refill(body).err(),
            parse_cancel(body).err(),
        ];
        for (i, r) in results.iter().enumerate() {
            let e = r.as_ref().unwrap_or_else(|| panic!("parser {i} accepted {body:?}"));
            assert!(want(e), "parser {i} on {:?}: {e:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn empty_bodies() {
        for body in [&b""[..], b"   ", b"\r\n", b"\xEF\xBB\xBF", b"\xEF\xBB\xBF \n"] {
            all_parsers_fail_with(body, |e| *e == ParseError::Empty);
        }
    }

    #[test]
    fn non_json_bodies() {
        const HTML_502: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
            <body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center>\
            <p>Please try again in a few minutes; the origin web server did not answer in time.</p></body></html>";
        all_parsers_fail_with(HTML_502.as_bytes(), |e| match e {
            ParseError::NotJson(s) => s.chars().count() == 120 && s.starts_with("<!DOCTYPE html> <html>"),
            _ => false,
        });
        for body in
            [&b"{\"order\":"[..], b"{\"order\": 23501", b"[{\"service\":1,", b"\xFF\xFE\x00", b"nul", b"{} x"]
        {
            all_parsers_fail_with(body, |e| matches!(e, ParseError::NotJson(_)));
        }
        assert_eq!(parse_add(b"{\"order\":"), Err(ParseError::NotJson("{\"order\":".into())));
    }

    #[test]
    fn not_json_snippet_is_char_boundary_safe() {
        let body = "한".repeat(500);
        match parse_add(body.as_bytes()) {
            Err(ParseError::NotJson(s)) => assert_eq!(s, "한".repeat(120)),
            other => panic!("{other:?}"),
        }
        let mut bytes = "é".repeat(300).into_bytes();
        bytes.insert(1, 0xFF); // split a character
        match parse_status(&bytes) {
            Err(ParseError::NotJson(s)) => assert_eq!(s.chars().count(), 120),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_json_does_not_panic() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        all_parsers_fail_with(deep.as_bytes(), |e| matches!(e, ParseError::NotJson(_)));
        let deep_obj = "{\"order\":".repeat(10_000);
        all_parsers_fail_with(deep_obj.as_bytes(), |e| matches!(e, ParseError::NotJson(_)));
        // Out of f64 range: serde_json refuses it.
        assert!(matches!(parse_add(b"{\"order\": 1e400}"), Err(ParseError::NotJson(_))));
        // Beyond u64: a float, not an id.
        assert!(matches!(
            parse_add(b"{\"order\": 123456789012345678901234567890}"),
            Err(ParseError::UnexpectedShape(_))
        ));
        let huge =
            br#"{"charge":1e300,"start_count":99999999999999999999,"status":"Completed","remains":-1e300}"#;
        assert_eq!(
            parse_status(huge).unwrap().unwrap(),
            OrderStatus {
                status: Status::Completed,
                charge: Some(format!("1{}", "0".repeat(300))),
                start_count: None,
                remains: None,
                currency: None,
            }
        );
    }

    #[test]
    fn parse_error_display() {
        assert_eq!(ParseError::Empty.to_string(), "empty response from the SMM panel");
        assert_eq!(
            ParseError::NotJson("<html>".into()).to_string(),
            "SMM panel response is not JSON: <html>"
        );
    }

    // --- services ------------------------------------------------------------------------

    const SERVICES_DOC: &str = r#"[
      {"service":1,"name":"Followers","type":"Default","category":"First Category",
       "rate":"0.90","min":"50","max":"10000","refill":true,"cancel":true},
      {"service":2,"name":"Comments","type":"Custom Comments","category":"Second Category",
       "rate":"8","min":"10","max":"1500","refill":false,"cancel":true}
    ]"#;

    fn doc_services() -> Vec<ServiceInfo> {
        vec![
            ServiceInfo {
                service: "1".into(),
                name: "Followers".into(),
                service_type: ServiceType::Default,
                category: "First Category".into(),
                rate_micros: 900_000,
                min: 50,
                max: 10_000,
                refill: true,
                cancel: true,
                dripfeed: false,
            },
            ServiceInfo {
                service: "2".into(),
                name: "Comments".into(),
                service_type: ServiceType::CustomComments,
                category: "Second Category".into(),
                rate_micros: 8_000_000,
                min: 10,
                max: 1500,
                refill: false,
                cancel: true,
                dripfeed: false,
            },
        ]
    }

    #[test]
    fn services_doc_sample() {
        assert_eq!(parse_services(SERVICES_DOC.as_bytes()).unwrap(), doc_services());
    }

    #[test]
    fn services_wrapper_and_loose_types() {
        let body = r#"{"status":"success","services":[
          {"service":"1","name":"Followers","type":"default","category":"First Category",
           "rate":0.9,"min":50,"max":10000,"refill":"1","cancel":1,"desc":"x","average_time":"1h"},
          {"id":" 2 ","name":"Comments","type":"custom_comments","category":"Second Category",
           "rate":8,"min":"10","max":1500.0,"refill":0,"cancel":"true"}
        ]}"#;
        assert_eq!(parse_services(body.as_bytes()).unwrap(), doc_services());
    }

    #[test]
    fn services_dripfeed_rounding_and_skips() {
        let body = r#"[
          {"service":3,"name":"Drip 👍","type":"Default","category":"Kr","rate":"1.2345671","min":"100",
           "max":"1000000","refill":false,"cancel":false,"dripfeed":true},
          {"service_id":4,"name":"Pkg","category":"P","rate":"1e-7","min":1,"max":1},
          {"name":"no id","rate":"1","min":"1","max":"2"},
          {"service":0,"name":"zero id","rate":"1","min":"1","max":"2"},
          {"service":5,"name":"no rate","min":"1","max":"2"},
          {"service":6,"name":"bad rate","rate":"-1","min":"1","max":"2"},
          {"service":7,"name":"bad min","rate":"1","min":"ten","max":"2"},
          {"service":8,"name":"no max","rate":"1","min":"1"},
          "junk", 42, null, [],
          {"service":9,"type":"Subscriptions","rate":"0","min":"0","max":"0"}
        ]"#;
        let got = parse_services(body.as_bytes()).unwrap();
        let ids: Vec<&str> = got.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(ids, ["3", "4", "9"]);
        assert_eq!(got[0].rate_micros, 1_234_568);
        assert!(got[0].dripfeed);
        assert_eq!(got[0].name, "Drip 👍");
        assert_eq!(got[1].service_type, ServiceType::Default);
        assert_eq!(got[1].rate_micros, 1);
        assert_eq!(got[2].service_type, ServiceType::Subscriptions);
        assert_eq!(got[2].name, "");
    }

    #[test]
    fn services_shapes() {
        assert_eq!(parse_services(b"[]"), Ok(vec![]));
        assert_eq!(parse_services(br#"{"services":[]}"#), Ok(vec![]));
        assert_eq!(
            parse_services(br#"{"error":"Incorrect API key"}"#),
            Err(ParseError::UnexpectedShape("Incorrect API key".into()))
        );
        for body in [&br#"{"services":"none"}"#[..], b"{}", b"\"services\"", b"12"] {
            assert!(matches!(parse_services(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
    }

    // --- add -----------------------------------------------------------------------------

    #[test]
    fn add_table() {
        let accepted = |id: &str| Ok(AddReply::Accepted { order: id.into() });
        let cases: &[(&str, Result<AddReply, ParseError>)] = &[
            (r#"{"order": 23501}"#, accepted("23501")),
            (r#"{"order":"9876543"}"#, accepted("9876543")),
            (r#"{"order":" 12 "}"#, accepted("12")),
            (r#"{"order":23501.0}"#, accepted("23501")),
            (r#"{"status":"success","order":5}"#, accepted("5")),
            (r#"{"order":7,"error":"Incorrect link"}"#, accepted("7")),
            (
                r#"{"error":"Not enough funds on balance"}"#,
                Ok(AddReply::Rejected(UpstreamError {
                    message: "Not enough funds on balance".into(),
                    class: ErrorClass::RetryLater,
                })),
            ),
            (
                r#"{"order":null,"error":"Quantity less than minimal 1000"}"#,
                Ok(AddReply::Rejected(UpstreamError {
                    message: "Quantity less than minimal 1000".into(),
                    class: ErrorClass::Definitive,
                })),
            ),
            (
                r#"{"error":true,"message":"Invalid API key"}"#,
                Ok(AddReply::Rejected(UpstreamError {
                    message: "Invalid API key".into(),
                    class: ErrorClass::Configuration,
                })),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(&parse_add(body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn add_unknown_outcomes() {
        for body in [
            r#"{}"#,
            r#"{"order":0}"#,
            r#"{"order":"0"}"#,
            r#"{"order":-5}"#,
            r#"{"order":1.5}"#,
            r#"{"order":""}"#,
            r#"{"order":"1,2"}"#,
            r#"{"order":true}"#,
            r#"{"order":{"id":1}}"#,
            r#"{"error":""}"#,
            r#"{"error":null}"#,
            r#"{"status":"success"}"#,
            r#"[{"order":1}]"#,
            r#""23501""#,
            r#"23501"#,
        ] {
            assert!(matches!(parse_add(body.as_bytes()), Err(ParseError::UnexpectedShape(_))), "{body}");
        }
        let long_id = format!(r#"{{"order":"{}"}}"#, "9".repeat(65));
        assert!(matches!(parse_add(long_id.as_bytes()), Err(ParseError::UnexpectedShape(_))));
        assert_eq!(
            parse_add(b"[1]"),
            Err(ParseError::UnexpectedShape(
                r#"expected {"order": id} or {"error": message}, got [1]"#.into()
            ))
        );
    }

    #[test]
    fn upstream_messages_are_trimmed_and_bounded() {
        let long = format!(r#"{{"error":"  Incorrect link {}  "}}"#, "x".repeat(1000));
        match parse_add(long.as_bytes()) {
            Ok(AddReply::Rejected(e)) => {
                assert_eq!(e.message.chars().count(), 500);
                assert!(e.message.starts_with("Incorrect link x"));
                assert_eq!(e.class, ErrorClass::Definitive);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_add(br#"{"error":{"code":7}}"#),
            Ok(AddReply::Rejected(UpstreamError {
                message: r#"{"code":7}"#.into(),
                class: ErrorClass::Unknown
            }))
        );
    }

    // --- status --------------------------------------------------------------------------

    #[test]
    fn status_doc_sample() {
        let body = br#"{"charge":"0.27819","start_count":"3572","status":"Partial","remains":"157","currency":"USD"}"#;
        assert_eq!(
            parse_status(body),
            Ok(Ok(OrderStatus {
                status: Status::Partial,
                charge: Some("0.27819".into()),
                start_count: Some(3572),
                remains: Some(157),
                currency: Some("USD".into()),
            }))
        );
    }

    #[test]
    fn status_loose_types() {
        let cases: &[(&str, OrderStatus)] = &[
            (
                r#"{"charge":0.27819,"start_count":3572,"status":"Completed","remains":0,"currency":"USD"}"#,
                OrderStatus {
                    status: Status::Completed,
                    charge: Some("0.27819".into()),
                    start_count: Some(3572),
                    remains: Some(0),
                    currency: Some("USD".into()),
                },
            ),
            (
                r#"{"charge":"1.5","start_count":" 12 ","status":"In progress","remains":"-2","currency":""}"#,
                OrderStatus {
                    status: Status::InProgress,
                    charge: Some("1.5".into()),
                    start_count: Some(12),
                    remains: Some(-2),
                    currency: None,
                },
            ),
            (
                r#"{"status":"Cancelled","remains":"157.0","start_count":"abc","charge":null,"extra":[1]}"#,
                OrderStatus {
                    status: Status::Canceled,
                    charge: None,
                    start_count: None,
                    remains: Some(157),
                    currency: None,
                },
            ),
            (
                r#"{"status":"Refunded","remains":-3.0,"charge":"0"}"#,
                OrderStatus {
                    status: Status::Other("Refunded".into()),
                    charge: Some("0".into()),
                    start_count: None,
                    remains: Some(-3),
                    currency: None,
                },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(parse_status(body.as_bytes()), Ok(Ok(want.clone())), "{body}");
        }
    }

    #[test]
    fn status_errors_and_shapes() {
        assert_eq!(
            parse_status(br#"{"error":"Incorrect order ID"}"#),
            Ok(Err(UpstreamError { message: "Incorrect order ID".into(), class: ErrorClass::Definitive }))
        );
        for body in
            [&br#"{}"#[..], br#"{"charge":"1"}"#, br#"{"status":3}"#, br#"{"status":null}"#, b"[]", b"true"]
        {
            assert!(matches!(parse_status(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
    }

    #[test]
    fn status_parse_table() {
        let cases: &[(&str, Status)] = &[
            ("Pending", Status::Pending),
            ("pending", Status::Pending),
            ("In progress", Status::InProgress),
            ("IN PROGRESS", Status::InProgress),
            ("in_progress", Status::InProgress),
            ("Inprogress", Status::InProgress),
            ("Processing", Status::Processing),
            ("Completed", Status::Completed),
            ("Partial", Status::Partial),
            ("Canceled", Status::Canceled),
            ("Cancelled", Status::Canceled),
            ("CANCELLED", Status::Canceled),
            (" Refunded ", Status::Other("Refunded".into())),
            ("", Status::Other(String::new())),
        ];
        for (text, want) in cases {
            assert_eq!(&Status::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn status_terminal_and_names() {
        let terminal: Vec<Status> = Status::KNOWN.into_iter().filter(Status::is_terminal).collect();
        assert_eq!(terminal, [Status::Completed, Status::Partial, Status::Canceled]);
        assert!(!Status::Other("Refunded".into()).is_terminal());
        for s in Status::KNOWN {
            assert_eq!(Status::parse(s.as_str()), s);
        }
        assert_eq!(Status::InProgress.as_str(), "in_progress");
        assert_eq!(Status::Other("Fail".into()).as_str(), "Fail");
    }

    // --- multi-status --------------------------------------------------------------------

    #[test]
    fn multi_status_doc_sample() {
        let body = br#"{"1":  {"charge":"0.27819","start_count":"3572","status":"Partial","remains":"157","currency":"USD"},
                        "10": {"error":"Incorrect order ID"},
                        "100":{"charge":"1.44219","start_count":"234","status":"In progress","remains":"10","currency":"USD"}}"#;
        assert_eq!(
            parse_multi_status(body).unwrap(),
            vec![
                (
                    "1".to_owned(),
                    Ok(OrderStatus {
                        status: Status::Partial,
                        charge: Some("0.27819".into()),
                        start_count: Some(3572),
                        remains: Some(157),
                        currency: Some("USD".into()),
                    })
                ),
                (
                    "10".to_owned(),
                    Err(UpstreamError {
                        message: "Incorrect order ID".into(),
                        class: ErrorClass::Definitive
                    })
                ),
                (
                    "100".to_owned(),
                    Ok(OrderStatus {
                        status: Status::InProgress,
                        charge: Some("1.44219".into()),
                        start_count: Some(234),
                        remains: Some(10),
                        currency: Some("USD".into()),
                    })
                ),
            ]
        );
    }

    #[test]
    fn multi_status_order_and_odd_entries() {
        let body = br#"{"9":{"status":"Cancelled","remains":"-2"},"10":"weird","2":{"charge":"1"},"abc":{"status":"Pending"}}"#;
        let got = parse_multi_status(body).unwrap();
        let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["2", "9", "10", "abc"]);
        assert_eq!(
            got[0].1,
            Err(UpstreamError {
                message: r#"unreadable status entry: {"charge":"1"}"#.into(),
                class: ErrorClass::Unknown
            })
        );
        assert_eq!(got[1].1.as_ref().map(|s| (&s.status, s.remains)), Ok((&Status::Canceled, Some(-2))));
        assert_eq!(
            got[2].1,
            Err(UpstreamError {
                message: r#"unreadable status entry: "weird""#.into(),
                class: ErrorClass::Unknown
            })
        );
        assert_eq!(parse_multi_status(b"{}"), Ok(vec![]));
    }

    #[test]
    fn multi_status_shapes() {
        assert_eq!(
            parse_multi_status(br#"{"error":"Invalid API key"}"#),
            Err(ParseError::UnexpectedShape("Invalid API key".into()))
        );
        for body in [&br#"{"charge":"0.2","status":"Partial","remains":"1"}"#[..], b"[]", b"1"] {
            assert!(matches!(parse_multi_status(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
    }

    // --- balance, refill, cancel ---------------------------------------------------------

    #[test]
    fn balance_table() {
        let ok =
            |b: &str, c: Option<&str>| Ok(Ok(Balance { balance: b.into(), currency: c.map(str::to_owned) }));
        assert_eq!(
            parse_balance(br#"{"balance":"100.84292","currency":"USD"}"#),
            ok("100.84292", Some("USD"))
        );
        assert_eq!(parse_balance(br#"{"balance":100.5}"#), ok("100.5", None));
        assert_eq!(parse_balance(br#"{"balance":12,"currency":"KRW"}"#), ok("12", Some("KRW")));
        assert_eq!(parse_balance(br#"{"balance":"-3.20"}"#), ok("-3.20", None));
        assert_eq!(
            parse_balance(br#"{"error":"Incorrect API key"}"#),
            Ok(Err(UpstreamError { message: "Incorrect API key".into(), class: ErrorClass::Configuration }))
        );
        for body in [&br#"{}"#[..], br#"{"balance":""}"#, br#"{"balance":null}"#, br#"[1]"#] {
            assert!(matches!(parse_balance(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
    }

    #[test]
    fn refill_table() {
        assert_eq!(parse_refill(br#"{"refill":"1"}"#), Ok(Ok("1".into())));
        assert_eq!(parse_refill(br#"{"refill":1}"#), Ok(Ok("1".into())));
        assert_eq!(parse_refill(br#"{"refill":" 42 "}"#), Ok(Ok("42".into())));
        assert_eq!(
            parse_refill(br#"{"error":"Incorrect order ID"}"#),
            Ok(Err(UpstreamError { message: "Incorrect order ID".into(), class: ErrorClass::Definitive }))
        );
        assert_eq!(
            parse_refill(br#"{"refill":{"error":"Refill not found"}}"#),
            Ok(Err(UpstreamError { message: "Refill not found".into(), class: ErrorClass::Definitive }))
        );
        for body in [&br#"{}"#[..], br#"{"refill":0}"#, br#"{"refill":{}}"#, br#"{"refill":null}"#, b"[]"] {
            assert!(matches!(parse_refill(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
    }

    #[test]
    fn refill_status_form_and_doc_sample() {
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            refill_status_form("k", &ids(&["1", " 2 "])).unwrap(),
            vec![
                ("key", "k".to_owned()),
                ("action", "refill_status".to_owned()),
                ("refills", "1,2".to_owned())
            ]
        );
        assert_eq!(refill_status_form("k", &[]), Err(BuildError::NoIds));
        let body = br#"[{"refill":1,"status":"Completed"},{"refill":2,"status":"Rejected"},
                        {"refill":3,"status":{"error":"Refill not found"}}]"#;
        assert_eq!(
            parse_refill_status(body),
            Ok(vec![
                ("1".to_owned(), Ok(RefillStatus::Completed)),
                ("2".to_owned(), Ok(RefillStatus::Rejected)),
                (
                    "3".to_owned(),
                    Err(UpstreamError { message: "Refill not found".into(), class: ErrorClass::Definitive })
                ),
            ])
        );
    }

    #[test]
    fn refill_status_loose_items() {
        let body = br#"[{"refill":"4","status":"In progress"},{"refill":5,"status":"in_progress"},
                        {"refill":6,"status":"Queued"},{"refill":7},{"status":"Completed"},"x",
                        {"refill":8,"status":3},{"refill":9,"error":"Refill not found"}]"#;
        let got = parse_refill_status(body).unwrap();
        let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["4", "5", "6", "7", "8", "9"]);
        assert_eq!(got[0].1, Ok(RefillStatus::InProgress));
        assert_eq!(got[1].1, Ok(RefillStatus::InProgress));
        assert_eq!(got[2].1, Ok(RefillStatus::Other("Queued".into())));
        assert_eq!(got[3].1.as_ref().map_err(|e| e.class), Err(ErrorClass::Unknown));
        assert_eq!(got[4].1.as_ref().map_err(|e| e.class), Err(ErrorClass::Unknown));
        assert_eq!(got[5].1.as_ref().map_err(|e| e.class), Err(ErrorClass::Definitive));
        assert_eq!(
            parse_refill_status(br#"{"refill":1,"status":"Pending"}"#),
            Ok(vec![("1".to_owned(), Ok(RefillStatus::Pending))])
        );
        assert_eq!(parse_refill_status(b"[]"), Ok(vec![]));
        assert_eq!(
            parse_refill_status(br#"{"error":"Incorrect request"}"#),
            Err(ParseError::UnexpectedShape("Incorrect request".into()))
        );
        for body in [&b"{}"[..], b"\"ok\"", b"1", br#"{"status":"Completed"}"#] {
            assert!(matches!(parse_refill_status(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
        assert!(matches!(parse_refill_status(b""), Err(ParseError::Empty)));
        assert!(matches!(parse_refill_status(b"<html>"), Err(ParseError::NotJson(_))));
    }

    #[test]
    fn refill_status_names() {
        for s in RefillStatus::KNOWN {
            assert_eq!(RefillStatus::parse(s.as_str()), s);
        }
        assert_eq!(RefillStatus::parse(" CANCELLED "), RefillStatus::Rejected);
        assert_eq!(RefillStatus::parse("In Progress"), RefillStatus::InProgress);
        assert_eq!(RefillStatus::parse(" Odd "), RefillStatus::Other("Odd".into()));
    }

    #[test]
    fn cancel_doc_sample() {
        assert_eq!(
            parse_cancel(br#"[{"order":9,"cancel":{"error":"Incorrect order ID"}},{"order":2,"cancel":1}]"#),
            Ok(vec![
                (
                    "9".to_owned(),
                    Err(UpstreamError {
                        message: "Incorrect order ID".into(),
                        class: ErrorClass::Definitive
                    })
                ),
                ("2".to_owned(), Ok(())),
            ])
        );
    }

    #[test]
    fn cancel_loose_items() {
        let body = br#"[{"order":"3","cancel":"1"},{"order":4,"cancel":true},{"order":5,"cancel":0},
                        {"order":6,"error":"Incorrect order ID"},{"cancel":1},"x",{"order":7,"cancel":{}}]"#;
        let got = parse_cancel(body).unwrap();
        let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["3", "4", "5", "6", "7"]);
        assert_eq!(got[0].1, Ok(()));
        assert_eq!(got[1].1, Ok(()));
        assert_eq!(got[2].1.as_ref().map_err(|e| e.class), Err(ErrorClass::Unknown));
        assert_eq!(got[3].1.as_ref().map_err(|e| e.class), Err(ErrorClass::Definitive));
        assert_eq!(got[4].1.as_ref().map_err(|e| e.class), Err(ErrorClass::Unknown));
        assert_eq!(parse_cancel(br#"{"order":2,"cancel":1}"#), Ok(vec![("2".to_owned(), Ok(()))]));
        assert_eq!(parse_cancel(b"[]"), Ok(vec![]));
    }

    #[test]
    fn cancel_shapes() {
        assert_eq!(
            parse_cancel(br#"{"error":"Incorrect request"}"#),
            Err(ParseError::UnexpectedShape("Incorrect request".into()))
        );
        for body in [&b"{}"[..], b"\"ok\"", b"1"] {
            assert!(matches!(parse_cancel(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
    }
}
