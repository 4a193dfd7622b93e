use super::kit::Page;
use super::{unknown_op, Done};
use crate::console::{Failure, Visit};
use crate::error::ApiError;
pub async fn list(_v: &Visit) -> Result<Page, Failure> {
    Err(Failure::Api(ApiError::not_found("page")))
}
pub async fn detail(_v: &Visit, _id: &str) -> Result<Page, Failure> {
    Err(Failure::Api(ApiError::not_found("page")))
}
pub async fn act(v: &Visit, _id: &str, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
