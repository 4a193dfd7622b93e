//! The snspmt server: a hyper 1 HTTP API over [`snspmt_store`], with the money rules of
//! [`snspmt_core`].
//!
//! [`serve`] is the single entry point, for the `snspmt` binary and for tests, which start
//! the real server on `127.0.0.1:0`.

use std::sync::Arc;

use snspmt_store::Store;

pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod handlers;
pub mod log;
pub mod request;
pub mod router;
pub mod server;
pub mod views;

pub use config::Config;
pub use server::serve;

/// What every handler shares.
pub struct App {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub clock: Arc<dyn clock::Clock>,
}

impl App {
    pub fn new(store: Arc<dyn Store>, config: Config) -> App {
        App { store, config, clock: Arc::new(clock::SystemClock) }
    }
}
