//! A simulated SMM panel, used when `SNSPMT_SIMULATE=1` and no `SMMKINGS_API_KEY` is set, so
//! a local server shows the whole order flow without an account: orders are accepted, run
//! for a few seconds and complete.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::smm::SmmTransport;
use super::{Answer, CallError};

/// How long a simulated order stays `Pending`, then `In progress`.
const PENDING_FOR: Duration = Duration::from_secs(5);
const RUNNING_FOR: Duration = Duration::from_secs(20);

struct SimOrder {
    created: Instant,
    quantity: i64,
}

/// The simulated panel's state.
pub struct SimulatedSmm {
    orders: Mutex<HashMap<i64, SimOrder>>,
    next_id: Mutex<i64>,
}

impl Default for SimulatedSmm {
    /// Ids start at the current Unix time in milliseconds, so that a restarted server's panel
    /// never hands out an id an earlier run gave (the orders stored with it would be settled
    /// from the wrong order's status).
    fn default() -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(100_000, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
        SimulatedSmm { orders: Mutex::new(HashMap::new()), next_id: Mutex::new(now_ms.max(100_000)) }
    }
}

fn catalogue() -> Value {
    json!([
        {"service": 1001, "name": "Instagram 팔로워 (한국인)", "type": "Default", "category": "Instagram",
         "rate": "1.20", "min": "10", "max": "50000", "refill": true, "cancel": true, "dripfeed": true},
        {"service": 1002, "name": "Instagram 좋아요", "type": "Default", "category": "Instagram",
         "rate": "0.30", "min": "10", "max": "100000", "refill": false, "cancel": true, "dripfeed": true},
        {"service": 1003, "name": "YouTube 조회수", "type": "Default", "category": "YouTube",
         "rate": "0.90", "min": "100", "max": "1000000", "refill": false, "cancel": false, "dripfeed": false},
        {"service": 1004, "name": "Instagram 커스텀 댓글", "type": "Custom Comments", "category": "Instagram",
         "rate": "8", "min": "1", "max": "500", "refill": false, "cancel": false, "dripfeed": false}
    ])
}

impl SimulatedSmm {
    fn status_of(&self, id: i64) -> Value {
        let orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        match orders.get(&id) {
            None => json!({"error": "Incorrect order ID"}),
            Some(o) => {
                let age = o.created.elapsed();
                let (status, remains) = if age < PENDING_FOR {
                    ("Pending", o.quantity)
                } else if age < PENDING_FOR + RUNNING_FOR {
                    ("In progress", o.quantity / 2)
                } else {
                    ("Completed", 0)
                };
                json!({"charge": "0.10", "start_count": "100", "status": status,
                       "remains": remains.to_string(), "currency": "USD"})
            }
        }
    }

    fn handle(&self, form: &HashMap<String, String>) -> Value {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        match get("action") {
            "services" => catalogue(),
            "balance" => json!({"balance": "1000.00", "currency": "USD"}),
            "add" => {
                let Some(service) = catalogue().as_array().and_then(|a| {
                    a.iter()
                        .find(|s| {
                            s["service"].as_i64().map(|n| n.to_string()).as_deref() == Some(get("service"))
                        })
                        .cloned()
                }) else {
                    return json!({"error": "Incorrect service ID"});
                };
                let per_run: i64 = get("quantity").parse().unwrap_or_else(|_| {
                    get("comments").lines().filter(|l| !l.trim().is_empty()).count() as i64
                });
                let runs: i64 = get("runs").parse().unwrap_or(1);
                let min: i64 = service["min"].as_str().and_then(|m| m.parse().ok()).unwrap_or(1);
                if per_run < min {
                    return json!({"error": format!("Quantity less than minimal {min}")});
                }
                if get("link").is_empty() {
                    return json!({"error": "Incorrect link"});
                }
                let id = {
                    let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
                    *next += 1;
                    *next
                };
                let order = SimOrder { created: Instant::now(), quantity: per_run * runs };
                self.orders.lock().unwrap_or_else(|p| p.into_inner()).insert(id, order);
                json!({"order": id})
            }
            "status" if form.contains_key("orders") => {
                let mut out = serde_json::Map::new();
                for id in get("orders").split(',').filter(|s| !s.is_empty()) {
                    out.insert(id.to_owned(), self.status_of(id.parse().unwrap_or(-1)));
                }
                Value::Object(out)
            }
            "status" => self.status_of(get("order").parse().unwrap_or(-1)),
            "refill" => json!({"refill": "1"}),
            "cancel" => json!([]),
            _ => json!({"error": "Incorrect request"}),
        }
    }
}

impl SmmTransport for SimulatedSmm {
    fn post_form(&self, body: &str) -> Result<Answer, CallError> {
        let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let body = serde_json::to_vec(&self.handle(&form)).map_err(|e| CallError::Sent(e.to_string()))?;
        Ok(Answer { status: 200, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(sim: &SimulatedSmm, body: &str) -> Value {
        let a = sim.post_form(body).expect("answer");
        serde_json::from_slice(&a.body).expect("json")
    }

    #[test]
    fn orders_are_accepted_and_reported() {
        let sim = SimulatedSmm::default();
        assert!(call(&sim, "key=k&action=services").as_array().is_some_and(|a| a.len() == 4));
        let added = call(&sim, "key=k&action=add&service=1001&link=https%3A%2F%2Fx.com&quantity=100");
        let id = added["order"].as_i64().expect("order id");
        let status = call(&sim, &format!("key=k&action=status&orders={id},5"));
        assert_eq!(status[id.to_string()]["status"], "Pending");
        assert_eq!(status["5"]["error"], "Incorrect order ID");
        assert_eq!(call(&sim, "action=add&service=9&link=x&quantity=1")["error"], "Incorrect service ID");
        assert!(call(&sim, "action=add&service=1001&link=x&quantity=1")["error"].as_str().is_some());
    }

    #[test]
    fn a_restarted_panel_never_reuses_an_id() {
        let add = "key=k&action=add&service=1001&link=https%3A%2F%2Fx.com&quantity=100";
        let first = SimulatedSmm::default();
        let ids: Vec<i64> = (0..3).map(|_| call(&first, add)["order"].as_i64().expect("id")).collect();
        std::thread::sleep(Duration::from_millis(5));
        let restarted = SimulatedSmm::default();
        let next = call(&restarted, add)["order"].as_i64().expect("id");
        assert!(ids.iter().all(|id| *id < next), "{ids:?} then {next}");
    }
}
