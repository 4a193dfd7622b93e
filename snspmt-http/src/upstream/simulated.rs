//! A simulated SMM panel, used when `SNSPMT_SIMULATE=1` and no `SMMKINGS_API_KEY` is set, so
//! a local server shows the whole order flow without an account: orders are accepted, run
//! for a few seconds and complete; refills run the same way, and a cancel of a running order of
//! a cancelable service makes it `Canceled`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use snspmt_core::upstream::smm as codec;

use super::smm::SmmTransport;
use super::{Answer, CallError};

/// How long a simulated order stays `Pending`, then `In progress`.
const PENDING_FOR: Duration = Duration::from_secs(5);
const RUNNING_FOR: Duration = Duration::from_secs(20);

struct SimOrder {
    created: Instant,
    quantity: i64,
    service: Value,
    canceled: bool,
}

/// The simulated panel's state.
pub struct SimulatedSmm {
    orders: Mutex<HashMap<i64, SimOrder>>,
    next_id: Mutex<i64>,
    /// Refill id → when it was asked for.
    refills: Mutex<HashMap<i64, Instant>>,
}

impl Default for SimulatedSmm {
    /// Ids start at the current Unix time in milliseconds, so that a restarted server's panel
    /// never hands out an id an earlier run gave (the orders stored with it would be settled
    /// from the wrong order's status).
    fn default() -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(100_000, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
        SimulatedSmm {
            orders: Mutex::new(HashMap::new()),
            next_id: Mutex::new(now_ms.max(100_000)),
            refills: Mutex::new(HashMap::new()),
        }
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
         "rate": "8", "min": "1", "max": "500", "refill": false, "cancel": false, "dripfeed": false},
        {"service": 1005, "name": "Instagram 멘션 (사용자 목록)", "type": "Mentions Custom List", "category": "Instagram",
         "rate": "6", "min": "1", "max": "1000", "refill": false, "cancel": false, "dripfeed": false},
        {"service": 1006, "name": "Instagram 투표", "type": "Poll", "category": "Instagram",
         "rate": "2", "min": "10", "max": "10000", "refill": false, "cancel": false, "dripfeed": false},
        {"service": 1007, "name": "Instagram 자동 좋아요 (구독)", "type": "Subscriptions", "category": "Instagram",
         "rate": "0.50", "min": "10", "max": "5000", "refill": false, "cancel": false, "dripfeed": false}
    ])
}

impl SimulatedSmm {
    fn status_of(&self, id: i64) -> Value {
        let orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        match orders.get(&id) {
            None => json!({"error": "Incorrect order ID"}),
            Some(o) => {
                let age = o.created.elapsed();
                let (status, remains) = if o.canceled {
                    ("Canceled", o.quantity)
                } else if age < PENDING_FOR {
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

    fn next_id(&self) -> i64 {
        let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        *next
    }

    /// A refill of a completed order of a service with refill, or the panel's error.
    fn refill(&self, id: &str) -> Value {
        let completed = {
            let orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
            match id.trim().parse::<i64>().ok().and_then(|id| orders.get(&id)) {
                None => return json!({"error": "Incorrect order ID"}),
                Some(o) if o.service["refill"] != true => {
                    return json!({"error": "Refill is disabled for this service"})
                }
                Some(o) => !o.canceled && o.created.elapsed() >= PENDING_FOR + RUNNING_FOR,
            }
        };
        if !completed {
            return json!({"error": "Order is not completed"});
        }
        let refill = self.next_id();
        self.refills.lock().unwrap_or_else(|p| p.into_inner()).insert(refill, Instant::now());
        json!({"refill": refill.to_string()})
    }

    fn refill_status_of(&self, id: &str) -> Value {
        let refills = self.refills.lock().unwrap_or_else(|p| p.into_inner());
        match id.trim().parse::<i64>().ok().and_then(|id| refills.get(&id)) {
            None => json!({"error": "Refill not found"}),
            Some(at) if at.elapsed() < PENDING_FOR => json!("Pending"),
            Some(at) if at.elapsed() < PENDING_FOR + RUNNING_FOR => json!("In progress"),
            Some(_) => json!("Completed"),
        }
    }

    /// Cancels a running order of a service with cancel: `1`, or the panel's error.
    fn cancel(&self, id: &str) -> Value {
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        match id.trim().parse::<i64>().ok().and_then(|id| orders.get_mut(&id)) {
            None => json!({"error": "Incorrect order ID"}),
            Some(o) if o.service["cancel"] != true => json!({"error": "Cancel is disabled for this service"}),
            Some(o) if o.canceled || o.created.elapsed() >= PENDING_FOR + RUNNING_FOR => {
                json!({"error": "Order can't be canceled"})
            }
            Some(o) => {
                o.canceled = true;
                json!(1)
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
                // As a panel does: the type's required parameters, checked by the same table.
                let kind = codec::ServiceType::parse(service["type"].as_str().unwrap_or(""));
                let given: codec::OrderParams = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let counted = match codec::check_params(&kind, &given) {
                    Ok(checked) => checked.quantity,
                    Err(e) => return json!({"error": format!("Incorrect request: {e}")}),
                };
                let per_run: i64 = get("quantity")
                    .parse()
                    .ok()
                    .or_else(|| counted.and_then(|n| i64::try_from(n).ok()))
                    .unwrap_or(1);
                let runs: i64 = get("runs").parse().unwrap_or(1);
                let min: i64 = service["min"].as_str().and_then(|m| m.parse().ok()).unwrap_or(1);
                if per_run < min {
                    return json!({"error": format!("Quantity less than minimal {min}")});
                }
                if get("link").is_empty() && kind != codec::ServiceType::Subscriptions {
                    return json!({"error": "Incorrect link"});
                }
                let id = self.next_id();
                let order =
                    SimOrder { created: Instant::now(), quantity: per_run * runs, service, canceled: false };
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
            "refill" => self.refill(get("order")),
            "refill_status" if form.contains_key("refills") => {
                let ids = get("refills").split(',').filter(|s| !s.trim().is_empty());
                let out: Vec<Value> = ids
                    .map(|id| json!({"refill": id.trim().parse::<i64>().map_or(json!(id), Value::from), "status": self.refill_status_of(id)}))
                    .collect();
                Value::Array(out)
            }
            "refill_status" => match self.refill_status_of(get("refill")) {
                Value::String(status) => json!({"status": status}),
                error => error,
            },
            "cancel" => {
                let ids = get("orders")
                    .split(',')
                    .chain(form.get("order").map(String::as_str))
                    .filter(|s| !s.trim().is_empty());
                let out: Vec<Value> = ids
                    .map(|id| json!({"order": id.trim().parse::<i64>().map_or(json!(id), Value::from), "cancel": self.cancel(id)}))
                    .collect();
                Value::Array(out)
            }
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

    /// Answers at once, on the caller's thread: nothing here waits.
    fn post_form_async(self: std::sync::Arc<Self>, body: String) -> super::smm::Posting {
        Box::pin(std::future::ready(self.post_form(&body)))
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
        assert!(call(&sim, "key=k&action=services").as_array().is_some_and(|a| a.len() == 7));
        let added = call(&sim, "key=k&action=add&service=1001&link=https%3A%2F%2Fx.com&quantity=100");
        let id = added["order"].as_i64().expect("order id");
        let status = call(&sim, &format!("key=k&action=status&orders={id},5"));
        assert_eq!(status[id.to_string()]["status"], "Pending");
        assert_eq!(status["5"]["error"], "Incorrect order ID");
        assert_eq!(call(&sim, "action=add&service=9&link=x&quantity=1")["error"], "Incorrect service ID");
        assert!(call(&sim, "action=add&service=1001&link=x&quantity=1")["error"].as_str().is_some());
        // The typed services take their parameters, as a panel does.
        let list = "key=k&action=add&service=1005&link=https%3A%2F%2Fx.com&usernames=a%0Ab";
        assert!(call(&sim, list)["order"].as_i64().is_some());
        let error = call(&sim, "key=k&action=add&service=1006&link=https%3A%2F%2Fx.com&quantity=10");
        assert!(error["error"].as_str().is_some_and(|e| e.contains("answer_number")), "{error}");
        let sub = "key=k&action=add&service=1007&username=u&min=10&max=20&posts=2&delay=0";
        assert!(call(&sim, sub)["order"].as_i64().is_some());
    }

    #[test]
    fn refills_and_cancels_are_answered() {
        let sim = SimulatedSmm::default();
        let add = |service: i64| {
            let body = format!("key=k&action=add&service={service}&link=https%3A%2F%2Fx.com&quantity=100");
            call(&sim, &body)["order"].as_i64().expect("order id")
        };
        let (refillable, cancelable, fixed) = (add(1001), add(1002), add(1003));
        assert_eq!(
            call(&sim, &format!("action=refill&order={refillable}"))["error"],
            "Order is not completed"
        );
        assert_eq!(
            call(&sim, &format!("action=refill&order={fixed}"))["error"],
            "Refill is disabled for this service"
        );
        // Completed orders take refills: age this one.
        if let Some(o) = sim.orders.lock().expect("orders").get_mut(&refillable) {
            o.created -= PENDING_FOR + RUNNING_FOR;
        }
        let refill = call(&sim, &format!("action=refill&order={refillable}"))["refill"].clone();
        let refill: i64 = refill.as_str().and_then(|s| s.parse().ok()).expect("refill id");
        assert_eq!(call(&sim, &format!("action=refill_status&refill={refill}"))["status"], "Pending");
        let many = call(&sim, &format!("action=refill_status&refills={refill},5"));
        assert_eq!(many[0]["status"], "Pending");
        assert_eq!(many[1]["status"]["error"], "Refill not found");
        let canceled = call(&sim, &format!("action=cancel&orders={cancelable},{fixed},{refillable}"));
        assert_eq!(canceled[0]["cancel"], 1);
        assert_eq!(canceled[1]["cancel"]["error"], "Cancel is disabled for this service");
        assert_eq!(canceled[2]["cancel"]["error"], "Order can't be canceled");
        assert_eq!(call(&sim, &format!("action=status&order={cancelable}"))["status"], "Canceled");
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
