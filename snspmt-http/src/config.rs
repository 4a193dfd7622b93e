//! Configuration from the environment (product contract §3).

use std::fmt;

use sha2::Digest;
use std::net::SocketAddr;

/// The admin token published with the original; refused at start-up.
pub const PUBLISHED_ADMIN_TOKEN: &str = "admin_sociality_2024";

/// Every variable the configuration reads, with its default or meaning (`snspmt --help`).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("SNSPMT_ADDR", "listen address (127.0.0.1:8080); or PORT=N for 0.0.0.0:N"),
    ("PORT", "port on 0.0.0.0 when SNSPMT_ADDR is unset"),
    ("DATABASE_URL", "sqlite://snspmt.db (default), sqlite::memory:, postgres://user:pw@host:5432/db"),
    ("DB_HOST", "PostgreSQL host, when DATABASE_URL is unset (with DB_PORT, DB_USER, DB_PASSWORD, DB_NAME)"),
    ("DB_PORT", "5432"),
    ("DB_USER", "postgres"),
    ("DB_PASSWORD", "(none)"),
    ("DB_NAME", "snspmt"),
    ("ADMIN_TOKEN", "admin token, 16+ characters (default: a new one each run, printed on stderr)"),
    ("ADMIN_TOKEN_SHA256", "the admin token's SHA-256 in hex, instead of ADMIN_TOKEN (snspmt admin token)"),
    ("CRON_TOKEN", "token for /api/cron/* (X-Cron-Token); the admin token works too"),
    ("METRICS_TOKEN", "bearer token that may read /metrics"),
    ("SNSPMT_SIMULATE", "1: simulated SMM panel and KCP, no accounts needed (off)"),
    ("SMMKINGS_API_URL", "https://smmkings.com/api/v2"),
    ("SMMKINGS_API_KEY", "the SMM panel key (unset: orders cannot be submitted unless simulated)"),
    ("SNSPMT_UPSTREAM_TIMEOUT_MS", "15000"),
    ("SNSPMT_UPSTREAM_CONCURRENCY", "8 calls to the panel at once"),
    ("SNSPMT_UPSTREAM_RATE", "N/SECONDS calls to the panel (off)"),
    ("SNSPMT_SYNC_INTERVAL_SECS", "60 (5 with SNSPMT_SIMULATE=1)"),
    ("SNSPMT_WORKERS", "1: in-process workers; 0: drive /api/cron/* yourself"),
    ("KCP_SITE_CD", "KCP merchant code"),
    ("KCP_SITE_KEY", "KCP site key"),
    ("KCP_CERT_INFO", "KCP service certificate (PEM)"),
    ("KCP_CERT_PASSWORD", "password of the KCP private key"),
    ("KCP_ENCRYPT_KEY", "KCP private key (encrypted PKCS#8 PEM), for cancels"),
    ("KCP_REGISTER_URL", "https://stg-spl.kcp.co.kr/std/tradeReg/register"),
    ("KCP_PAYMENT_URL", "https://stg-spl.kcp.co.kr/gw/enc/v1/payment"),
    ("KCP_RET_URL", "SNSPMT_PUBLIC_URL + /api/points/purchase-kcp/return"),
    ("SNSPMT_PUBLIC_URL", "http://127.0.0.1:8080 (links in mail, redirects, sitemap)"),
    ("KAKAO_API_URL", "https://kapi.kakao.com"),
    ("KAKAO_APP_ID", "Kakao app id (unset: Kakao login is off)"),
    ("GOOGLE_CLIENT_ID", "Google client id (unset: Google login is off)"),
    ("GOOGLE_CLIENT_SECRET", "Google client secret"),
    ("GOOGLE_TOKENINFO_URL", "https://oauth2.googleapis.com/tokeninfo"),
    ("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"),
    ("FIREBASE_API_KEY", "served by /api/config"),
    ("FIREBASE_AUTH_DOMAIN", "served by /api/config"),
    ("FIREBASE_PROJECT_ID", "served by /api/config"),
    ("SNSPMT_UPLOAD_DIR", "./uploads"),
    ("SNSPMT_TZ_OFFSET", "+09:00 (how \"YYYY-MM-DD HH:MM\" times are read)"),
    ("SNSPMT_LOG", "info; warn logs only slow requests, warnings and errors; error only errors"),
    ("SNSPMT_LOG_FORMAT", "text; json for one JSON object a line"),
    ("SNSPMT_LOGIN_RATE", "20/60 per client address and per e-mail; 0 = off"),
    ("SNSPMT_REGISTER_RATE", "10/3600 per client address and per e-mail; 0 = off"),
    ("SNSPMT_TRUSTED_PROXIES", "IPs/CIDRs whose X-Forwarded-For is believed (none)"),
    ("SNSPMT_SMTP_URL", "smtp://user:pw@host:587 (unset: verification links go to the log)"),
    ("SNSPMT_MAIL_FROM", "snspmt <no-reply@localhost>"),
    ("SNSPMT_MAX_CONNECTIONS", "half the open-file limit, at most 1024"),
    ("SNSPMT_BODY_TIMEOUT_MS", "15000"),
    ("SNSPMT_HEADER_TIMEOUT_MS", "15000"),
    ("SNSPMT_CORS_ORIGINS", "origins allowed to call the API from a browser (none: same-origin)"),
    ("SNSPMT_API_RATE", "300/60 reseller API (/api/v2) calls per API key; 0 = off"),
    (
        "SNSPMT_REFILL_WINDOW_DAYS",
        "30 days after an order ended (completed/partial) in which a refill may be asked",
    ),
    ("SNSPMT_REFILL_COOLDOWN_SECS", "86400 seconds between two refills of one order"),
    (
        "SNSPMT_SESSION_CACHE_SECS",
        "5 seconds a session, its user and balance, and the prices orders are charged are kept \
         in process (0..=300; 0 = off); other processes' changes are seen after this",
    ),
    ("SNSPMT_SESSION_CACHE_SIZE", "10000 sessions kept in process at most"),
];

/// Why the configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Everything the server reads from its environment. `Debug` never shows a secret.
#[derive(Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub database_url: String,
    /// The admin token; `admin_token_generated` when it was not configured.
    pub admin_token: String,
    pub admin_token_generated: bool,
    /// SHA-256 of the admin token (from `ADMIN_TOKEN`, or given as hex in `ADMIN_TOKEN_SHA256`
    /// so that the configuration need not hold the token itself).
    pub admin_token_sha256: [u8; 32],
    pub cron_token: Option<String>,
    pub smm_api_url: String,
    pub smm_api_key: Option<String>,
    pub simulate: bool,
    pub kcp: Kcp,
    pub public_url: String,
    pub kakao_api_url: String,
    pub kakao_app_id: Option<String>,
    pub google: Google,
    pub firebase: Firebase,
    pub upload_dir: String,
    /// Minutes east of UTC used to read `"YYYY-MM-DD HH:MM"` times.
    pub tz_offset_minutes: i32,
    pub workers: bool,
    /// Whether to log every request (`SNSPMT_LOG=warn` logs only slow requests and errors).
    pub log_requests: bool,
    /// `SNSPMT_LOG=error`: nothing below ERROR is written (a request answered 500 still is).
    pub log_errors_only: bool,
    /// Read timeout of upstream calls (`SNSPMT_UPSTREAM_TIMEOUT_MS`, default 15 s).
    pub upstream_timeout_ms: u64,
    /// Seconds between status syncs of the in-process worker (`SNSPMT_SYNC_INTERVAL_SECS`).
    pub sync_interval_secs: u64,
    /// A token that may read `/metrics` (besides the admin token).
    pub metrics_token: Option<String>,
    /// One JSON object a log line (`SNSPMT_LOG_FORMAT=json`).
    pub log_json: bool,
    /// Account protection: rate limits, trusted proxies, the mailer.
    pub accounts: Accounts,
    /// The server's edge against slow and numerous clients, and cross-origin callers.
    pub edge: Edge,
    /// How the server treats its upstream SMM panel (issue 12).
    pub upstream_limits: UpstreamLimits,
    /// Reseller API calls per API key (`SNSPMT_API_RATE=N/SECONDS`; `0` = off).
    pub api_rate: Option<crate::guard::Rate>,
    /// Refill rules (`SNSPMT_REFILL_WINDOW_DAYS`, `SNSPMT_REFILL_COOLDOWN_SECS`; issue 14).
    pub refill_policy: snspmt_core::refill::RefillPolicy,
    /// The in-process session cache (`SNSPMT_SESSION_CACHE_SECS`, `SNSPMT_SESSION_CACHE_SIZE`).
    pub session_cache: SessionCache,
}

/// Default `SNSPMT_SESSION_CACHE_SECS`.
pub const DEFAULT_SESSION_CACHE_SECS: u64 = 5;
/// Default `SNSPMT_SESSION_CACHE_SIZE`.
pub const DEFAULT_SESSION_CACHE_SIZE: u64 = 10_000;
/// The longest `SNSPMT_SESSION_CACHE_SECS` allowed: what another process changes (a logout,
/// a balance) may go unseen here this long.
pub const MAX_SESSION_CACHE_SECS: u64 = 300;

/// How long and how many sessions are kept in process (see `crate::sessions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCache {
    /// Seconds a cached session (and its user and balance) is trusted; 0 = no cache.
    pub secs: u64,
    /// Sessions kept at most.
    pub size: usize,
}

impl SessionCache {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<SessionCache, ConfigError> {
        let secs = number(get, "SNSPMT_SESSION_CACHE_SECS", DEFAULT_SESSION_CACHE_SECS)?;
        if secs > MAX_SESSION_CACHE_SECS {
            return Err(ConfigError(format!(
                "SNSPMT_SESSION_CACHE_SECS must be at most {MAX_SESSION_CACHE_SECS}: {secs}"
            )));
        }
        let size = number(get, "SNSPMT_SESSION_CACHE_SIZE", DEFAULT_SESSION_CACHE_SIZE)?;
        if size == 0 {
            return Err(ConfigError("SNSPMT_SESSION_CACHE_SIZE must be at least 1".into()));
        }
        Ok(SessionCache { secs, size: usize::try_from(size).unwrap_or(usize::MAX) })
    }
}

/// Default `SNSPMT_API_RATE`: 300 reseller API calls a minute per API key.
pub const DEFAULT_API_RATE: &str = "300/60";

// --- accounts (issue 12) ------------------------------------------------------------------

/// Default `SNSPMT_LOGIN_RATE`: 20 attempts a minute per client address and per e-mail.
pub const DEFAULT_LOGIN_RATE: &str = "20/60";
/// Default `SNSPMT_REGISTER_RATE`: 10 registrations an hour per client address (and e-mail).
pub const DEFAULT_REGISTER_RATE: &str = "10/3600";
/// Default `SNSPMT_MAIL_FROM`.
pub const DEFAULT_MAIL_FROM: &str = "snspmt <no-reply@localhost>";

/// Rate limits on login and registration, the proxies whose `X-Forwarded-For` is believed,
/// and where mail goes.
#[derive(Clone, Default)]
pub struct Accounts {
    /// `SNSPMT_LOGIN_RATE` (`N/SECONDS`; `0` = off).
    pub login_rate: Option<crate::guard::Rate>,
    /// `SNSPMT_REGISTER_RATE` (`N/SECONDS`; `0` = off).
    pub register_rate: Option<crate::guard::Rate>,
    /// `SNSPMT_TRUSTED_PROXIES`: a comma list of IPs and CIDR blocks.
    pub trusted_proxies: Vec<crate::guard::Cidr>,
    /// `SNSPMT_SMTP_URL` (may hold a password: never shown); unset = the log-only mailer.
    pub smtp_url: Option<String>,
    /// `SNSPMT_MAIL_FROM`.
    pub mail_from: String,
}

impl Accounts {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Accounts, ConfigError> {
        let rate = |name: &str, default: &str| {
            crate::guard::Rate::parse(&get(name).unwrap_or_else(|| default.into()))
                .map_err(|e| ConfigError(format!("{name} {e}")))
        };
        let trusted_proxies = crate::guard::parse_proxies(&get("SNSPMT_TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|e| ConfigError(format!("SNSPMT_TRUSTED_PROXIES: {e}")))?;
        let mail_from = get("SNSPMT_MAIL_FROM").unwrap_or_else(|| DEFAULT_MAIL_FROM.into());
        if !crate::mailer::valid_from(&mail_from) {
            return Err(ConfigError(format!("SNSPMT_MAIL_FROM is not a mailbox: {mail_from}")));
        }
        let smtp_url = get("SNSPMT_SMTP_URL");
        if let Some(url) = &smtp_url {
            crate::mailer::SmtpMailer::new(url, &mail_from, std::time::Duration::from_secs(1))
                .map_err(|e| ConfigError(e.replace(url.as_str(), "<redacted>")))?;
        }
        Ok(Accounts {
            login_rate: rate("SNSPMT_LOGIN_RATE", DEFAULT_LOGIN_RATE)?,
            register_rate: rate("SNSPMT_REGISTER_RATE", DEFAULT_REGISTER_RATE)?,
            trusted_proxies,
            smtp_url,
            mail_from,
        })
    }
}

/// Connection limits, timeouts and CORS (`SNSPMT_MAX_CONNECTIONS`, `SNSPMT_BODY_TIMEOUT_MS`,
/// `SNSPMT_HEADER_TIMEOUT_MS`, `SNSPMT_CORS_ORIGINS`).
#[derive(Clone, Debug)]
pub struct Edge {
    /// Open connections at most; more are answered 503 and closed at once. Default: half the
    /// process's open-file limit, at most 1024 (512 when the limit cannot be read).
    pub max_connections: usize,
    /// Time allowed for a request's whole body once its head is read (default 15 s); after it,
    /// 408 `body_timeout` and the connection is closed.
    pub body_timeout_ms: u64,
    /// Time allowed for a request head, and for an idle keep-alive connection to start its next
    /// request (default 15 s); after it the connection is closed.
    pub header_timeout_ms: u64,
    /// Origins allowed to call the API from a browser, normalized (lowercase, no trailing
    /// slash); `*` allows any. Empty: same-origin only.
    pub cors_origins: Vec<String>,
}

impl Edge {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Edge, ConfigError> {
        let positive = |name: &str, default: u64| match number(get, name, default)? {
            0 => Err(ConfigError(format!("{name} must be at least 1"))),
            n => Ok(n),
        };
        let default_connections = open_file_limit().map_or(512, |n| (n / 2).clamp(16, 1024)) as u64;
        let mut cors_origins = Vec::new();
        for origin in get("SNSPMT_CORS_ORIGINS").unwrap_or_default().split(',') {
            let origin = crate::cors::normalize(origin);
            if origin.is_empty() {
                continue;
            }
            let valid = origin == "*"
                || origin.split_once("://").is_some_and(|(scheme, host)| {
                    matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
                });
            if !valid {
                return Err(ConfigError(format!(
                    "SNSPMT_CORS_ORIGINS lists origins like https://app.example (or *): {origin}"
                )));
            }
            cors_origins.push(origin);
        }
        Ok(Edge {
            max_connections: usize::try_from(positive("SNSPMT_MAX_CONNECTIONS", default_connections)?)
                .unwrap_or(usize::MAX),
            body_timeout_ms: positive("SNSPMT_BODY_TIMEOUT_MS", 15_000)?,
            header_timeout_ms: positive("SNSPMT_HEADER_TIMEOUT_MS", 15_000)?,
            cors_origins,
        })
    }
}

/// The soft limit on open files of this process (`/proc/self/limits`, Linux), when known.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// Manners towards the SMM panel: every path that calls it shares these limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamLimits {
    /// Calls at once (`SNSPMT_UPSTREAM_CONCURRENCY`, default 8, at least 1).
    pub concurrency: usize,
    /// Calls per period (`SNSPMT_UPSTREAM_RATE=N/SECONDS`; unset or `0`: no rate limit).
    pub rate: Option<crate::upstream::limit::Rate>,
}

impl UpstreamLimits {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<UpstreamLimits, ConfigError> {
        let concurrency = number(get, "SNSPMT_UPSTREAM_CONCURRENCY", 8)?;
        if !(1..=1024).contains(&concurrency) {
            return Err(ConfigError(format!(
                "SNSPMT_UPSTREAM_CONCURRENCY must be 1..=1024, not {concurrency}"
            )));
        }
        let rate = match get("SNSPMT_UPSTREAM_RATE") {
            None => None,
            Some(v) => crate::upstream::limit::Rate::parse(&v)
                .map_err(|e| ConfigError(format!("SNSPMT_UPSTREAM_RATE: {e}")))?,
        };
        Ok(UpstreamLimits { concurrency: concurrency as usize, rate })
    }
}

#[derive(Clone, Default)]
pub struct Kcp {
    pub site_cd: Option<String>,
    pub site_key: Option<String>,
    pub cert_info: Option<String>,
    pub cert_password: Option<String>,
    pub encrypt_key: Option<String>,
    pub register_url: String,
    pub payment_url: String,
    pub ret_url: String,
}

#[derive(Clone, Default)]
pub struct Google {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub tokeninfo_url: String,
    pub token_url: String,
}

#[derive(Clone, Default, serde::Serialize)]
pub struct Firebase {
    pub firebase_api_key: String,
    pub firebase_auth_domain: String,
    pub firebase_project_id: String,
}

fn redact(v: &Option<String>) -> &'static str {
    if v.is_some() {
        "<set>"
    } else {
        "<unset>"
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("database", &database_kind(&self.database_url))
            .field("admin_token", &"<redacted>")
            .field("cron_token", &redact(&self.cron_token))
            .field("smm_api_url", &self.smm_api_url)
            .field("smm_api_key", &redact(&self.smm_api_key))
            .field("simulate", &self.simulate)
            .field("kcp_site_cd", &self.kcp.site_cd)
            .field("public_url", &self.public_url)
            .field("upload_dir", &self.upload_dir)
            .field("tz_offset_minutes", &self.tz_offset_minutes)
            .field("workers", &self.workers)
            .field("edge", &self.edge)
            .field("upstream_limits", &self.upstream_limits)
            .field("api_rate", &self.api_rate)
            .field("refill_policy", &self.refill_policy)
            .field("session_cache", &self.session_cache)
            .finish_non_exhaustive()
    }
}

/// `sqlite` or `postgres`, without the credentials a URL may carry.
pub fn database_kind(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

impl Config {
    /// Reads the configuration from the process environment. `random_token` supplies the admin
    /// token when `ADMIN_TOKEN` is unset.
    pub fn from_env(random_token: impl FnOnce() -> String) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()), random_token)
    }

    /// Reads the configuration through `get` (tests pass a map).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        random_token: impl FnOnce() -> String,
    ) -> Result<Config, ConfigError> {
        let addr = match (get("SNSPMT_ADDR"), get("PORT")) {
            (Some(a), _) => a,
            (None, Some(port)) => format!("0.0.0.0:{port}"),
            (None, None) => "127.0.0.1:8080".to_owned(),
        };
        let addr: SocketAddr =
            addr.parse().map_err(|_| ConfigError(format!("SNSPMT_ADDR/PORT is not an address: {addr}")))?;
        let database_url = match (get("DATABASE_URL"), get("DB_HOST")) {
            (Some(url), _) => url,
            (None, Some(host)) => {
                let user = get("DB_USER").unwrap_or_else(|| "postgres".into());
                let name = get("DB_NAME").unwrap_or_else(|| "snspmt".into());
                let port = get("DB_PORT").unwrap_or_else(|| "5432".into());
                let password =
                    get("DB_PASSWORD").map(|p| format!(":{}", percent_encode(&p))).unwrap_or_default();
                format!("postgres://{}{password}@{host}:{port}/{name}", percent_encode(&user))
            }
            (None, None) => "sqlite://snspmt.db".to_owned(),
        };
        let (admin_token, admin_token_generated) =
            match (get("ADMIN_TOKEN"), get("ADMIN_TOKEN_SHA256")) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError("set ADMIN_TOKEN or ADMIN_TOKEN_SHA256, not both".into()))
                }
                (Some(t), None) if t == PUBLISHED_ADMIN_TOKEN => return Err(ConfigError(
                    "ADMIN_TOKEN is the published default token; choose a secret one (snspmt admin token)"
                        .into(),
                )),
                (Some(t), None) if t.len() < 16 => {
                    return Err(ConfigError("ADMIN_TOKEN must be at least 16 characters".into()))
                }
                (Some(t), None) => (t, false),
                (None, Some(_)) => (String::new(), false),
                (None, None) => (random_token(), true),
            };
        let admin_token_sha256 = match get("ADMIN_TOKEN_SHA256") {
            Some(hex) => parse_sha256(&hex).ok_or_else(|| {
                ConfigError("ADMIN_TOKEN_SHA256 must be 64 hex digits (snspmt admin token prints one)".into())
            })?,
            None => sha2::Sha256::digest(admin_token.as_bytes()).into(),
        };
        let public_url = get("SNSPMT_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let public_url = public_url.trim_end_matches('/').to_owned();
        let tz = get("SNSPMT_TZ_OFFSET").unwrap_or_else(|| "+09:00".into());
        let tz_offset_minutes = parse_offset(&tz)
            .ok_or_else(|| ConfigError(format!("SNSPMT_TZ_OFFSET must look like +09:00: {tz}")))?;
        let workers = get("SNSPMT_WORKERS").map(|v| v != "0").unwrap_or(true);
        let simulate = get("SNSPMT_SIMULATE").is_some_and(|v| v == "1" || v == "true");
        let config = Config {
            addr,
            database_url,
            admin_token,
            admin_token_generated,
            admin_token_sha256,
            cron_token: get("CRON_TOKEN"),
            smm_api_url: get("SMMKINGS_API_URL").unwrap_or_else(|| "https://smmkings.com/api/v2".into()),
            smm_api_key: get("SMMKINGS_API_KEY"),
            simulate,
            kcp: Kcp {
                site_cd: get("KCP_SITE_CD"),
                site_key: get("KCP_SITE_KEY"),
                cert_info: get("KCP_CERT_INFO"),
                cert_password: get("KCP_CERT_PASSWORD"),
                encrypt_key: get("KCP_ENCRYPT_KEY"),
                register_url: get("KCP_REGISTER_URL")
                    .unwrap_or_else(|| "https://stg-spl.kcp.co.kr/std/tradeReg/register".into()),
                payment_url: get("KCP_PAYMENT_URL")
                    .unwrap_or_else(|| "https://stg-spl.kcp.co.kr/gw/enc/v1/payment".into()),
                ret_url: get("KCP_RET_URL")
                    .unwrap_or_else(|| format!("{public_url}/api/points/purchase-kcp/return")),
            },
            kakao_api_url: get("KAKAO_API_URL").unwrap_or_else(|| "https://kapi.kakao.com".into()),
            kakao_app_id: get("KAKAO_APP_ID"),
            google: Google {
                client_id: get("GOOGLE_CLIENT_ID"),
                client_secret: get("GOOGLE_CLIENT_SECRET"),
                tokeninfo_url: get("GOOGLE_TOKENINFO_URL")
                    .unwrap_or_else(|| "https://oauth2.googleapis.com/tokeninfo".into()),
                token_url: get("GOOGLE_TOKEN_URL")
                    .unwrap_or_else(|| "https://oauth2.googleapis.com/token".into()),
            },
            firebase: Firebase {
                firebase_api_key: get("FIREBASE_API_KEY").unwrap_or_default(),
                firebase_auth_domain: get("FIREBASE_AUTH_DOMAIN").unwrap_or_default(),
                firebase_project_id: get("FIREBASE_PROJECT_ID").unwrap_or_default(),
            },
            upload_dir: get("SNSPMT_UPLOAD_DIR").unwrap_or_else(|| "./uploads".into()),
            tz_offset_minutes,
            workers,
            log_requests: get("SNSPMT_LOG").is_none_or(|v| v != "warn" && v != "error"),
            log_errors_only: get("SNSPMT_LOG").is_some_and(|v| v == "error"),
            upstream_timeout_ms: number(&get, "SNSPMT_UPSTREAM_TIMEOUT_MS", 15_000)?,
            // The simulated panel ends an order after 25 s: sync often enough to show it.
            sync_interval_secs: number(&get, "SNSPMT_SYNC_INTERVAL_SECS", if simulate { 5 } else { 60 })?
                .max(1),
            metrics_token: get("METRICS_TOKEN"),
            log_json: get("SNSPMT_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json")),
            accounts: Accounts::from_lookup(&get)?,
            edge: Edge::from_lookup(&get)?,
            upstream_limits: UpstreamLimits::from_lookup(&get)?,
            api_rate: crate::guard::Rate::parse(
                &get("SNSPMT_API_RATE").unwrap_or_else(|| DEFAULT_API_RATE.into()),
            )
            .map_err(|e| ConfigError(format!("SNSPMT_API_RATE {e}")))?,
            refill_policy: snspmt_core::refill::RefillPolicy::new(
                number(&get, "SNSPMT_REFILL_WINDOW_DAYS", snspmt_core::refill::DEFAULT_WINDOW_DAYS)?,
                number(&get, "SNSPMT_REFILL_COOLDOWN_SECS", snspmt_core::refill::DEFAULT_COOLDOWN_SECS)?,
            ),
            session_cache: SessionCache::from_lookup(&get)?,
            public_url,
        };
        config.refuse_simulated_money()?;
        Ok(config)
    }

    /// Whether card payments go to the simulated KCP: `SNSPMT_SIMULATE=1` without
    /// `KCP_SITE_CD` and `KCP_CERT_INFO`.
    pub fn kcp_simulated(&self) -> bool {
        self.simulate && !(self.kcp.site_cd.is_some() && self.kcp.cert_info.is_some())
    }

    /// Refuses simulated card payments next to a real SMM panel: with `SNSPMT_SIMULATE=1`,
    /// `SMMKINGS_API_KEY` set and no KCP merchant settings, the simulated payment window would
    /// mint points that buy real orders.
    fn refuse_simulated_money(&self) -> Result<(), ConfigError> {
        if self.kcp_simulated() && self.smm_api_key.is_some() {
            return Err(ConfigError(
                "SNSPMT_SIMULATE=1 without KCP_SITE_CD/KCP_CERT_INFO simulates card payments, and with a real \
                 SMMKINGS_API_KEY their free points would buy real orders: unset SMMKINGS_API_KEY (simulated \
                 panel) or configure KCP"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether `presented` is the admin token (compared in constant time, over digests).
    pub fn is_admin_token(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let digest: [u8; 32] = sha2::Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.admin_token_sha256).into()
    }

    /// Whether the SMM panel can be called (a key, or simulation).
    pub fn smm_configured(&self) -> bool {
        self.smm_api_key.is_some() || self.simulate
    }

    /// Whether KCP can be called (merchant settings, or simulation).
    pub fn kcp_configured(&self) -> bool {
        (self.kcp.site_cd.is_some() && self.kcp.cert_info.is_some()) || self.simulate
    }
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn number(get: &impl Fn(&str) -> Option<String>, name: &str, default: u64) -> Result<u64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ConfigError(format!("{name} must be a whole number: {v}"))),
    }
}

/// `+09:00` → 540, `-05:30` → -330, `Z` → 0.
pub fn parse_offset(s: &str) -> Option<i32> {
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if (0..=14).contains(&h) && (0..60).contains(&m) {
        Some(sign * (h * 60 + m))
    } else {
        None
    }
}

fn percent_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned(), || "generated-token-0123456789".into())
    }

    #[test]
    fn log_levels() {
        let level = |v: Option<&str>| {
            let c = config(&v.map(|v| vec![("SNSPMT_LOG", v)]).unwrap_or_default()).expect("config");
            (c.log_requests, c.log_errors_only)
        };
        assert_eq!(level(None), (true, false));
        assert_eq!(level(Some("info")), (true, false));
        assert_eq!(level(Some("warn")), (false, false));
        assert_eq!(level(Some("error")), (false, true));
    }

    #[test]
    fn defaults() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://snspmt.db");
        assert!(c.admin_token_generated);
        assert_eq!(c.tz_offset_minutes, 540);
        assert!(c.workers && !c.simulate && !c.smm_configured());
        assert_eq!(c.kcp.ret_url, "http://127.0.0.1:8080/api/points/purchase-kcp/return");
        assert_eq!(c.sync_interval_secs, 60);
        let simulated = config(&[("SNSPMT_SIMULATE", "1")]).expect("simulated");
        assert_eq!(simulated.sync_interval_secs, 5, "the simulated panel's orders show as ended soon");
    }

    #[test]
    fn published_or_short_admin_token_is_refused() {
        assert!(config(&[("ADMIN_TOKEN", PUBLISHED_ADMIN_TOKEN)]).is_err());
        assert!(config(&[("ADMIN_TOKEN", "short")]).is_err());
        let c = config(&[("ADMIN_TOKEN", "a-long-enough-secret-token")]).expect("ok");
        assert!(!c.admin_token_generated);
        assert!(!format!("{c:?}").contains("a-long-enough-secret-token"), "Debug hides the token");
    }

    #[test]
    fn port_and_db_parts() {
        let c = config(&[
            ("PORT", "9000"),
            ("DB_HOST", "db"),
            ("DB_USER", "app"),
            ("DB_PASSWORD", "p@ss word"),
            ("DB_NAME", "snspmt"),
        ])
        .expect("ok");
        assert_eq!(c.addr.to_string(), "0.0.0.0:9000");
        assert_eq!(c.database_url, "postgres://app:p%40ss%20word@db:5432/snspmt");
        assert!(!format!("{c:?}").contains("p%40ss"), "Debug hides the database password");
    }

    #[test]
    fn simulated_card_payments_are_refused_next_to_a_real_smm_key() {
        let key = ("SMMKINGS_API_KEY", "real-key");
        let sim = ("SNSPMT_SIMULATE", "1");
        let (site, cert) = (("KCP_SITE_CD", "T0000"), ("KCP_CERT_INFO", "-----BEGIN CERTIFICATE-----"));
        let e = config(&[sim, key]).expect_err("refused");
        assert!(e.0.contains("SNSPMT_SIMULATE") && e.0.contains("SMMKINGS_API_KEY"), "{e}");
        assert!(!e.to_string().contains("real-key"), "the key is not shown");
        // Half a KCP configuration is still the simulated KCP.
        assert!(config(&[sim, key, site]).is_err());
        assert!(config(&[("SNSPMT_SIMULATE", "true"), key, cert]).is_err());
        // Simulated everything, real everything, or a real KCP beside a real panel: fine.
        let c = config(&[sim]).expect("all simulated");
        assert!(c.kcp_simulated() && c.smm_configured() && c.kcp_configured());
        let c = config(&[sim, key, site, cert]).expect("real KCP");
        assert!(!c.kcp_simulated());
        assert!(config(&[key]).is_ok_and(|c| !c.kcp_simulated() && !c.kcp_configured()));
        assert!(config(&[key, site, cert]).is_ok());
        assert!(config(&[("SNSPMT_SIMULATE", "0"), key]).is_ok());
    }

    #[test]
    fn reseller_api_rate() {
        use crate::guard::Rate;
        use std::time::Duration;
        assert_eq!(
            config(&[]).expect("default").api_rate,
            Some(Rate { n: 300, per: Duration::from_secs(60) })
        );
        assert_eq!(config(&[("SNSPMT_API_RATE", "0")]).expect("off").api_rate, None);
        assert_eq!(
            config(&[("SNSPMT_API_RATE", "5/1")]).expect("set").api_rate,
            Some(Rate { n: 5, per: Duration::from_secs(1) })
        );
        assert!(config(&[("SNSPMT_API_RATE", "fast")]).is_err());
    }

    #[test]
    fn account_limits_and_mail() {
        use crate::guard::Rate;
        use std::time::Duration;
        let c = config(&[]).expect("defaults");
        assert_eq!(c.accounts.login_rate, Some(Rate { n: 20, per: Duration::from_secs(60) }));
        assert_eq!(c.accounts.register_rate, Some(Rate { n: 10, per: Duration::from_secs(3600) }));
        assert!(c.accounts.trusted_proxies.is_empty() && c.accounts.smtp_url.is_none());
        let c = config(&[
            ("SNSPMT_LOGIN_RATE", "0"),
            ("SNSPMT_REGISTER_RATE", "3/10"),
            ("SNSPMT_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
            ("SNSPMT_SMTP_URL", "smtp://user:secret-pw@mail.example:587"),
            ("SNSPMT_MAIL_FROM", "Panel <no-reply@panel.example>"),
        ])
        .expect("set");
        assert_eq!(c.accounts.login_rate, None);
        assert_eq!(c.accounts.register_rate, Some(Rate { n: 3, per: Duration::from_secs(10) }));
        assert_eq!(c.accounts.trusted_proxies.len(), 2);
        assert!(!format!("{c:?}").contains("secret-pw"), "Debug hides the SMTP password");
        assert!(config(&[("SNSPMT_LOGIN_RATE", "lots")]).is_err());
        assert!(config(&[("SNSPMT_TRUSTED_PROXIES", "10.0.0.0/99")]).is_err());
        assert!(config(&[("SNSPMT_MAIL_FROM", "nobody")]).is_err());
    }

    #[test]
    fn edge_limits_and_cors_origins() {
        let c = config(&[]).expect("defaults");
        assert!((16..=1024).contains(&c.edge.max_connections), "{:?}", c.edge);
        assert_eq!((c.edge.body_timeout_ms, c.edge.header_timeout_ms), (15_000, 15_000));
        assert!(c.edge.cors_origins.is_empty(), "same-origin only by default");
        let c = config(&[
            ("SNSPMT_MAX_CONNECTIONS", "64"),
            ("SNSPMT_BODY_TIMEOUT_MS", "250"),
            ("SNSPMT_HEADER_TIMEOUT_MS", "300"),
            ("SNSPMT_CORS_ORIGINS", " https://App.example/ , http://localhost:3000,"),
        ])
        .expect("ok");
        assert_eq!(
            (c.edge.max_connections, c.edge.body_timeout_ms, c.edge.header_timeout_ms),
            (64, 250, 300)
        );
        assert_eq!(c.edge.cors_origins, ["https://app.example", "http://localhost:3000"]);
        assert!(config(&[("SNSPMT_MAX_CONNECTIONS", "0")]).is_err());
        assert!(config(&[("SNSPMT_BODY_TIMEOUT_MS", "soon")]).is_err());
        assert!(config(&[("SNSPMT_CORS_ORIGINS", "app.example")]).is_err());
        assert!(config(&[("SNSPMT_CORS_ORIGINS", "https://app.example/path")]).is_err());
        assert_eq!(config(&[("SNSPMT_CORS_ORIGINS", "*")]).expect("any").edge.cors_origins, ["*"]);
    }

    #[test]
    fn upstream_limits() {
        use crate::upstream::limit::Rate;
        let c = config(&[]).expect("defaults");
        assert_eq!(c.upstream_limits, UpstreamLimits { concurrency: 8, rate: None }, "8 at once, no rate");
        let c =
            config(&[("SNSPMT_UPSTREAM_CONCURRENCY", "32"), ("SNSPMT_UPSTREAM_RATE", "20/1")]).expect("ok");
        assert_eq!(c.upstream_limits.concurrency, 32);
        assert_eq!(c.upstream_limits.rate, Rate::parse("20/1").expect("rate"));
        assert_eq!(config(&[("SNSPMT_UPSTREAM_RATE", "0")]).expect("off").upstream_limits.rate, None);
        for bad in [("SNSPMT_UPSTREAM_CONCURRENCY", "0"), ("SNSPMT_UPSTREAM_CONCURRENCY", "x")] {
            assert!(config(&[bad]).is_err(), "{bad:?}");
        }
        for bad in ["fast", "10", "10/0"] {
            assert!(config(&[("SNSPMT_UPSTREAM_RATE", bad)]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_variable_read_is_listed_for_help() {
        let asked = std::sync::Mutex::new(Vec::new());
        let _ = Config::from_lookup(
            |k| {
                asked.lock().expect("lock").push(k.to_owned());
                None
            },
            || "generated-token-0123456789".into(),
        );
        let _ = Config::from_lookup(
            |k| {
                asked.lock().expect("lock").push(k.to_owned());
                (k == "DB_HOST").then(|| "db".to_owned())
            },
            || "generated-token-0123456789".into(),
        );
        let listed: Vec<&str> = ENVIRONMENT.iter().map(|(k, _)| *k).collect();
        for k in asked.into_inner().expect("lock") {
            assert!(listed.contains(&k.as_str()), "{k} is read but not in ENVIRONMENT (snspmt --help)");
        }
    }

    #[test]
    fn admin_token_by_its_digest() {
        let c = config(&[("ADMIN_TOKEN", "a-long-enough-secret-token")]).expect("token");
        assert!(c.is_admin_token("a-long-enough-secret-token") && !c.is_admin_token("a-long-enough-secret"));
        let hex = crate::auth::token_hash("a-long-enough-secret-token");
        let c = config(&[("ADMIN_TOKEN_SHA256", hex.as_str())]).expect("digest");
        assert!(!c.admin_token_generated && c.admin_token.is_empty());
        assert!(c.is_admin_token("a-long-enough-secret-token") && !c.is_admin_token(""));
        assert!(config(&[("ADMIN_TOKEN_SHA256", "abc")]).is_err());
        assert!(config(&[
            ("ADMIN_TOKEN_SHA256", hex.as_str()),
            ("ADMIN_TOKEN", "a-long-enough-secret-token")
        ])
        .is_err());
        let generated = config(&[]).expect("generated");
        assert!(generated.is_admin_token("generated-token-0123456789"));
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+09:00"), Some(540));
        assert_eq!(parse_offset("-05:30"), Some(-330));
        assert_eq!(parse_offset("Z"), Some(0));
        assert_eq!(parse_offset("09:00"), None);
        assert_eq!(parse_offset("+25:00"), None);
        assert!(config(&[("SNSPMT_TZ_OFFSET", "KST")]).is_err());
    }
}
