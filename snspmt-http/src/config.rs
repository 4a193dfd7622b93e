//! Configuration from the environment (product contract §3).

use std::fmt;
use std::net::SocketAddr;

/// The admin token published with the original; refused at start-up.
pub const PUBLISHED_ADMIN_TOKEN: &str = "admin_sociality_2024";

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
    /// Read timeout of upstream calls (`SNSPMT_UPSTREAM_TIMEOUT_MS`, default 15 s).
    pub upstream_timeout_ms: u64,
    /// Seconds between status syncs of the in-process worker (`SNSPMT_SYNC_INTERVAL_SECS`).
    pub sync_interval_secs: u64,
    /// A token that may read `/metrics` (besides the admin token).
    pub metrics_token: Option<String>,
    /// One JSON object a log line (`SNSPMT_LOG_FORMAT=json`).
    pub log_json: bool,
    /// How the server treats its upstream SMM panel (issue 12).
    pub upstream_limits: UpstreamLimits,
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
            .field("upstream_limits", &self.upstream_limits)
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
        let (admin_token, admin_token_generated) = match get("ADMIN_TOKEN") {
            Some(t) if t == PUBLISHED_ADMIN_TOKEN => {
                return Err(ConfigError(
                    "ADMIN_TOKEN is the published default token; choose a secret one".into(),
                ))
            }
            Some(t) if t.len() < 16 => {
                return Err(ConfigError("ADMIN_TOKEN must be at least 16 characters".into()))
            }
            Some(t) => (t, false),
            None => (random_token(), true),
        };
        let public_url = get("SNSPMT_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let public_url = public_url.trim_end_matches('/').to_owned();
        let tz = get("SNSPMT_TZ_OFFSET").unwrap_or_else(|| "+09:00".into());
        let tz_offset_minutes = parse_offset(&tz)
            .ok_or_else(|| ConfigError(format!("SNSPMT_TZ_OFFSET must look like +09:00: {tz}")))?;
        let workers = get("SNSPMT_WORKERS").map(|v| v != "0").unwrap_or(true);
        Ok(Config {
            addr,
            database_url,
            admin_token,
            admin_token_generated,
            cron_token: get("CRON_TOKEN"),
            smm_api_url: get("SMMKINGS_API_URL").unwrap_or_else(|| "https://smmkings.com/api/v2".into()),
            smm_api_key: get("SMMKINGS_API_KEY"),
            simulate: get("SNSPMT_SIMULATE").is_some_and(|v| v == "1" || v == "true"),
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
            log_requests: get("SNSPMT_LOG").is_none_or(|v| v != "warn"),
            upstream_timeout_ms: number(&get, "SNSPMT_UPSTREAM_TIMEOUT_MS", 15_000)?,
            sync_interval_secs: number(&get, "SNSPMT_SYNC_INTERVAL_SECS", 60)?.max(1),
            metrics_token: get("METRICS_TOKEN"),
            log_json: get("SNSPMT_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json")),
            upstream_limits: UpstreamLimits::from_lookup(&get)?,
            public_url,
        })
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
    fn defaults() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://snspmt.db");
        assert!(c.admin_token_generated);
        assert_eq!(c.tz_offset_minutes, 540);
        assert!(c.workers && !c.simulate && !c.smm_configured());
        assert_eq!(c.kcp.ret_url, "http://127.0.0.1:8080/api/points/purchase-kcp/return");
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
    fn offsets() {
        assert_eq!(parse_offset("+09:00"), Some(540));
        assert_eq!(parse_offset("-05:30"), Some(-330));
        assert_eq!(parse_offset("Z"), Some(0));
        assert_eq!(parse_offset("09:00"), None);
        assert_eq!(parse_offset("+25:00"), None);
        assert!(config(&[("SNSPMT_TZ_OFFSET", "KST")]).is_err());
    }
}
