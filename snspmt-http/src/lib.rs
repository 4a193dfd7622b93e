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
pub mod conns;
#[cfg(feature = "console")]
pub mod console;
pub mod cors;
pub mod error;
pub mod framing;
pub mod guard;
pub mod handlers;
pub mod jobs;
pub mod log;
pub mod mailer;
pub mod metrics;
pub mod multipart;
pub mod openapi;
pub mod prices;
pub mod request;
pub mod router;
pub mod server;
pub mod sessions;
pub mod upstream;
pub mod views;

pub use config::Config;
pub use server::serve;

/// What every handler shares.
pub struct App {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub clock: Arc<dyn clock::Clock>,
    /// The SMM panel: real (a key is set), simulated (`SNSPMT_SIMULATE=1`), or none.
    pub smm: Option<upstream::smm::SmmClient>,
    /// KCP: real (merchant settings), simulated, or none.
    pub kcp: Option<upstream::kcp::KcpClient>,
    pub metrics: Arc<metrics::Metrics>,
    /// Kakao's user API (`KAKAO_API_URL`).
    pub kakao: upstream::oauth::KakaoClient,
    /// Google login, when `GOOGLE_CLIENT_ID` is set.
    pub google: Option<upstream::oauth::GoogleClient>,
    /// Rate limits and the password-hashing gate of the account endpoints.
    pub guards: Arc<guard::Guards>,
    /// Verification mail: SMTP when `SNSPMT_SMTP_URL` is set, else the log.
    pub mailer: Arc<dyn mailer::Mailer>,
    /// Signed-in callers without a round trip (`SNSPMT_SESSION_CACHE_SECS`); the store tells it
    /// every revocation, user change and balance of this process.
    pub sessions: Arc<sessions::SessionCache>,
    /// Price books and services without a round trip, for as long as sessions; the store tells
    /// it every change of rates and services of this process.
    pub prices: Arc<prices::PriceCache>,
}

impl App {
    pub fn new(store: Arc<dyn Store>, config: Config) -> App {
        let timeouts = upstream::Timeouts {
            connect: std::time::Duration::from_millis(config.upstream_timeout_ms.min(5_000)),
            read: std::time::Duration::from_millis(config.upstream_timeout_ms),
        };
        let limits = config.upstream_limits;
        let limiter = move || upstream::limit::Limiter::new(limits.concurrency, limits.rate);
        let smm = match (&config.smm_api_key, config.simulate) {
            (Some(key), _) => {
                let http = upstream::smm::HttpSmm::new(config.smm_api_url.clone(), timeouts);
                Some(upstream::smm::SmmClient::new(Arc::new(http), key.clone()).with_limiter(limiter()))
            }
            (None, true) => Some(
                upstream::smm::SmmClient::new(
                    Arc::new(upstream::simulated::SimulatedSmm::default()),
                    "simulated".into(),
                )
                .with_limiter(limiter()),
            ),
            (None, false) => None,
        };
        let kcp = match (&config.kcp.site_cd, &config.kcp.cert_info, config.simulate) {
            (Some(site), Some(cert), _) => Some(upstream::kcp::KcpClient::new(
                Arc::new(upstream::kcp::HttpKcp { agent: upstream::agent(timeouts) }),
                site.clone(),
                cert.clone(),
                config.kcp.register_url.clone(),
                config.kcp.payment_url.clone(),
                config.kcp.ret_url.clone(),
                false,
            )),
            (_, _, true) => Some(upstream::kcp::KcpClient::new(
                Arc::new(upstream::kcp::SimulatedKcp::new(format!(
                    "{}/api/points/purchase-kcp/simulated-window",
                    config.public_url
                ))),
                "T0000".into(),
                "simulated".into(),
                "simulated://register".into(),
                "simulated://payment".into(),
                config.kcp.ret_url.clone(),
                true,
            )),
            _ => None,
        };
        let kakao = upstream::oauth::KakaoClient {
            agent: upstream::agent(timeouts),
            api_url: config.kakao_api_url.trim_end_matches('/').to_owned(),
            app_id: config.kakao_app_id.clone(),
        };
        let google = config.google.client_id.as_ref().map(|client_id| upstream::oauth::GoogleClient {
            agent: upstream::agent(timeouts),
            client_id: client_id.clone(),
            client_secret: config.google.client_secret.clone(),
            tokeninfo_url: config.google.tokeninfo_url.clone(),
            token_url: config.google.token_url.clone(),
            redirect_uri: format!("{}/api/auth/google-callback", config.public_url),
        });
        let guards = Arc::new(
            guard::Guards::new(config.accounts.login_rate, config.accounts.register_rate)
                .with_api_rate(config.api_rate),
        );
        let mailer: Arc<dyn mailer::Mailer> = match &config.accounts.smtp_url {
            Some(url) => match mailer::SmtpMailer::new(url, &config.accounts.mail_from, timeouts.read) {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    log::error(&format!("{e}; verification mail goes to the log instead"));
                    Arc::new(mailer::LogMailer)
                }
            },
            None => Arc::new(mailer::LogMailer),
        };
        let sessions =
            Arc::new(sessions::SessionCache::new(config.session_cache.secs, config.session_cache.size));
        let prices = Arc::new(prices::PriceCache::new(config.session_cache.secs, config.session_cache.size));
        let (a, b): (std::sync::Weak<sessions::SessionCache>, std::sync::Weak<prices::PriceCache>) =
            (Arc::downgrade(&sessions), Arc::downgrade(&prices));
        let watchers: [std::sync::Weak<dyn snspmt_store::ChangeWatcher>; 2] = [a, b];
        watchers.into_iter().for_each(|w| store.watch(w));
        App {
            sessions,
            prices,
            guards,
            mailer,
            store,
            config,
            clock: Arc::new(clock::SystemClock),
            smm,
            kcp,
            kakao,
            google,
            metrics: Arc::default(),
        }
    }

    /// The same app with another mailer (tests read the mail).
    pub fn with_mailer(mut self, mailer: Arc<dyn mailer::Mailer>) -> App {
        self.mailer = mailer;
        self
    }

    /// The same app with another clock (tests move time by hand).
    pub fn with_clock(mut self, clock: Arc<dyn clock::Clock>) -> App {
        self.clock = clock;
        self
    }
}
