use super::kit::Page;
use super::{unknown_op, Done};
use crate::console::{Failure, Visit};
use crate::error::ApiError;
pub async fn page(_v: &Visit) -> Result<Page, Failure> {
    Err(Failure::Api(ApiError::not_found("page")))
}
pub async fn act(v: &Visit, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
