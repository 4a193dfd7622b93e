use super::kit::Page;
use super::{unknown_op, Done};
use crate::console::{Failure, Visit};
use crate::error::ApiError;
fn nf() -> Failure {
    Failure::Api(ApiError::not_found("page"))
}
pub async fn notices(_v: &Visit) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn notice(_v: &Visit, _id: &str) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn posts(_v: &Visit) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn post(_v: &Visit, _id: &str) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn audit(_v: &Visit) -> Result<Page, Failure> {
    Err(nf())
}
pub async fn notices_act(v: &Visit, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
pub async fn notice_act(v: &Visit, _id: &str, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
pub async fn posts_act(v: &Visit, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
pub async fn post_act(v: &Visit, _id: &str, _op: &str) -> Result<Done, ApiError> {
    Err(unknown_op(v))
}
