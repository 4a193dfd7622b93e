//! Requests become an [`Endpoint`] by slice patterns on the path; each endpoint knows who
//! may call it. A known path with another method is 405, an unknown path 404.

use hyper::Method;

use crate::error::ApiError;

/// Who may call an endpoint. Checked before dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials.
    Public,
    /// A bearer session.
    User,
    /// A bearer session, or the admin (for reading another user's resource).
    UserOrAdmin,
    /// `X-Admin-Token`, or the bearer session of an admin user.
    Admin,
}

/// Every route the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Register,
    Login,
    Logout,
    User { user_id: String },
    Points,
    DeductPoints,
    Health,
    Config,
    DeploymentStatus,
    AdminUsers,
    AdminUpdateUser { user_id: String },
    AdminTransactions,
    AdminMigrateDatabase,
    AdminAuditLog,
}

impl Endpoint {
    pub fn access(&self) -> Access {
        use Endpoint::*;
        match self {
            Register | Login | Health | Config | DeploymentStatus => Access::Public,
            Logout | Points | DeductPoints => Access::User,
            User { .. } => Access::UserOrAdmin,
            AdminUsers
            | AdminUpdateUser { .. }
            | AdminTransactions
            | AdminMigrateDatabase
            | AdminAuditLog => Access::Admin,
        }
    }

    /// A name for logs and metrics, without ids.
    pub fn name(&self) -> &'static str {
        use Endpoint::*;
        match self {
            Register => "register",
            Login => "login",
            Logout => "logout",
            User { .. } => "user",
            Points => "points",
            DeductPoints => "points.deduct",
            Health => "health",
            Config => "config",
            DeploymentStatus => "deployment_status",
            AdminUsers => "admin.users",
            AdminUpdateUser { .. } => "admin.users.update",
            AdminTransactions => "admin.transactions",
            AdminMigrateDatabase => "admin.migrate_database",
            AdminAuditLog => "admin.audit_log",
        }
    }
}

/// Picks the endpoint for `method` among those a path serves.
fn on<const N: usize>(method: &Method, choices: [(Method, Endpoint); N]) -> Result<Endpoint, ApiError> {
    let allow = choices.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ");
    choices
        .into_iter()
        .find(|(m, _)| m == method || (method == Method::HEAD && m == Method::GET))
        .map(|(_, e)| e)
        .ok_or_else(|| ApiError::method_not_allowed(allow))
}

/// Resolves a request line. `path` is without the query string.
pub fn route(method: &Method, path: &str) -> Result<Endpoint, ApiError> {
    use Endpoint as E;
    use Method as M;
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segs: Vec<&str> = trimmed.split('/').collect();
    match segs.as_slice() {
        ["api", "register"] => on(method, [(M::POST, E::Register)]),
        ["api", "auth", "login"] => on(method, [(M::POST, E::Login)]),
        ["api", "auth", "logout"] => on(method, [(M::POST, E::Logout)]),
        ["api", "users", id] if !id.is_empty() => on(method, [(M::GET, E::User { user_id: decode(id)? })]),
        ["api", "points"] => on(method, [(M::GET, E::Points)]),
        ["api", "points", "deduct"] => on(method, [(M::POST, E::DeductPoints)]),
        ["api", "health"] | ["health"] => on(method, [(M::GET, E::Health)]),
        ["api", "config"] => on(method, [(M::GET, E::Config)]),
        ["api", "deployment-status"] => on(method, [(M::GET, E::DeploymentStatus)]),
        ["api", "admin", "users"] => on(method, [(M::GET, E::AdminUsers)]),
        ["api", "admin", "users", id] if !id.is_empty() => {
            on(method, [(M::PUT, E::AdminUpdateUser { user_id: decode(id)? })])
        }
        ["api", "admin", "transactions"] => on(method, [(M::GET, E::AdminTransactions)]),
        ["api", "admin", "migrate-database"] => on(method, [(M::POST, E::AdminMigrateDatabase)]),
        ["api", "admin", "audit-log"] => on(method, [(M::GET, E::AdminAuditLog)]),
        _ => Err(ApiError::no_such_route()),
    }
}

/// Percent-decodes a path segment; it must be UTF-8.
fn decode(seg: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("invalid_path", "bad percent-encoding in path");
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("invalid_path", "path is not UTF-8"))
}

/// Every route as `(method, path pattern)`, for documentation and the route-listing test.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/users/{user_id}"),
    ("GET", "/api/points"),
    ("POST", "/api/points/deduct"),
    ("GET", "/api/health"),
    ("GET", "/health"),
    ("GET", "/api/config"),
    ("GET", "/api/deployment-status"),
    ("GET", "/api/admin/users"),
    ("PUT", "/api/admin/users/{user_id}"),
    ("GET", "/api/admin/transactions"),
    ("POST", "/api/admin/migrate-database"),
    ("GET", "/api/admin/audit-log"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_route_resolves() {
        for (method, pattern) in ROUTES {
            let path = pattern.replace("{user_id}", "u%401");
            let m: Method = method.parse().expect("method");
            let e = route(&m, &path).unwrap_or_else(|err| panic!("{method} {path}: {err}"));
            if let Endpoint::User { user_id } | Endpoint::AdminUpdateUser { user_id } = &e {
                assert_eq!(user_id, "u@1");
            }
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(route(&Method::GET, "/api/nope").map_err(|e| e.code), Err("no_such_route"));
        assert_eq!(route(&Method::GET, "/").map_err(|e| e.code), Err("no_such_route"));
        assert_eq!(route(&Method::GET, "/api/users/").map_err(|e| e.code), Err("no_such_route"));
        let e = route(&Method::DELETE, "/api/points").expect_err("405");
        assert_eq!((e.code, e.allow.as_deref()), ("method_not_allowed", Some("GET")));
        assert_eq!(route(&Method::GET, "/api/points/deduct").map_err(|e| e.code), Err("method_not_allowed"));
        assert_eq!(route(&Method::HEAD, "/health").ok(), Some(Endpoint::Health));
        assert_eq!(route(&Method::GET, "/api/users/%ff").map_err(|e| e.code), Err("invalid_path"));
        assert_eq!(route(&Method::GET, "/api/users/%4").map_err(|e| e.code), Err("invalid_path"));
    }

    #[test]
    fn access_levels() {
        assert_eq!(Endpoint::Register.access(), Access::Public);
        assert_eq!(Endpoint::DeductPoints.access(), Access::User);
        assert_eq!(Endpoint::AdminTransactions.access(), Access::Admin);
        assert_eq!(Endpoint::User { user_id: "x".into() }.access(), Access::UserOrAdmin);
    }
}
