//! Codecs for the upstream services the panel talks to.
//!
//! Sans-IO like the rest of the crate: a request is built as a value (form fields, a body) and
//! a response is parsed from the bytes the transport read. Sending them is `snspmt-http`'s job.
//!
//! - [`smm`]: the SMM panel API v2 (SMM Kings, PerfectPanel family), protocols §1.
//! - [`oauth`]: Kakao and Google login answers and their verification, protocols §3–§4.

pub mod kcp;
pub mod oauth;
pub mod smm;
mod text;
