use super::kit::Page;
use super::{unknown_op, Done};
use crate::console::{Failure, Visit};
use crate::error::ApiError;
fn nf() -> Failure {
    Failure::Api(ApiError::not_found("page"))
}
pub async fn services(_v: &Visit) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn service(_v: &Visit, _id: &str) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn packages(_v: &Visit) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn package(_v: &Visit, _id: &str) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn coupons(_v: &Visit) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn coupon(_v: &Visit, _id: &str) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn services_act(v: &Visit, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
pub async fn service_act(v: &Visit, _id: &str, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
pub async fn packages_act(v: &Visit, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
pub async fn package_act(v: &Visit, _id: &str, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
pub async fn coupons_act(v: &Visit, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
pub async fn coupon_act(v: &Visit, _id: &str, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
