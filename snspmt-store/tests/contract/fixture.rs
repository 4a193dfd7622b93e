//! Inputs shared by the contract cases and the model test.

use snspmt_core::order::OrderStatus;
use snspmt_core::{Millis, Points};
use snspmt_store::NewOrder;

/// A pending order of 100 units at `price`, without discount, due at `due_at`.
pub fn new_order(user: &str, service_id: i64, price: i64, due_at: i64) -> NewOrder {
    NewOrder {
        user_id: user.into(),
        service_id,
        service_name: "svc".into(),
        link: "https://x.com/a".into(),
        quantity: 100,
        runs: None,
        interval_minutes: None,
        comments: None,
        price: Points(price),
        discount_amount: Points(0),
        final_price: Points(price),
        due_at: Millis(due_at),
        status: OrderStatus::Pending,
        scheduled_at: None,
        coupon_id: None,
        params: Default::default(),
    }
}
