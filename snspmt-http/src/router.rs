//! Every route is declared once, by one row of a [`route_table!`] table in the handler module that
//! serves it: its operation name, method, path pattern, who may call it, its name in logs and
//! metrics, the Rust types of its query, body and answer, and the call that serves it. The
//! router, the dispatch, the access check and the OpenAPI document all read those rows.
//!
//! A path resolves to the route whose pattern matches it most specifically (a literal segment
//! beats a `{param}`); a known path with another method is 405, an unknown path 404.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::App;

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
    /// `X-Cron-Token`, or the admin token.
    Cron,
    /// `Authorization: Bearer <METRICS_TOKEN>`, or the admin.
    Metrics,
}

/// What a route's handler returns, boxed so that every route has the same handler type.
pub type BoxReply<'a> = Pin<Box<dyn Future<Output = crate::handlers::Reply> + Send + 'a>>;

/// A route's handler: the app, the authenticated caller, the request and the path parameters.
pub type Handler = for<'a> fn(&'a Arc<App>, &'a Caller, &'a Req, &'a Params) -> BoxReply<'a>;

/// What the OpenAPI document says of a route's inputs and answer, from its Rust types.
#[derive(Debug, Default)]
pub struct OpDoc {
    /// The query string's parameters, as the JSON schema of an object.
    pub query: Option<Value>,
    /// `(content type, schema)` of the request body.
    pub body: Option<(&'static str, Value)>,
    /// `(content type, schema)` of a successful answer.
    pub reply: Option<(&'static str, Value)>,
    /// The answer's status code.
    pub status: u16,
}

/// The schema generators of the document: what clients send is described as it is read
/// (serde's deserialize contract: an `Option` field may be left out), what the server answers
/// as it is written (the serialize contract: a field always sent is required, even as `null`).
pub struct Generators {
    pub input: SchemaGenerator,
    pub output: SchemaGenerator,
}

/// One route: a row of a [`route_table!`].
pub struct Route {
    /// The row's identifier (`PlaceOrder`), the OpenAPI `operationId`.
    pub op: &'static str,
    pub method: Method,
    /// The path, with `{name}` for each parameter.
    pub pattern: &'static str,
    /// The names of the path parameters, in order, as the handler binds them.
    pub params: &'static [&'static str],
    pub access: Access,
    /// The name in logs and metrics, without ids.
    pub name: &'static str,
    /// The largest body read: [`MAX_BODY`], or [`MAX_UPLOAD_BODY`] for image uploads.
    pub body_limit: usize,
    /// The route's OpenAPI description, from its types.
    pub doc: fn(&mut Generators) -> OpDoc,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.pattern, self.op)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        std::ptr::eq(self, other)
    }
}

/// The percent-decoded path parameters of a matched route, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The parameter `name`; a route binds only the names its pattern has (a test checks).
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// A resolved request line: the route and its path parameters.
#[derive(Debug)]
pub struct Matched {
    pub route: &'static Route,
    pub params: Params,
}

impl Matched {
    pub fn access(&self) -> Access {
        self.route.access
    }

    pub fn name(&self) -> &'static str {
        self.route.name
    }
}

/// How a handler's answer becomes a response, and what the document says of it.
pub trait Answer {
    fn into_response(self) -> Response<Full<Bytes>>;
    /// `(content type, schema)` of the answer; `None` when it is described by hand.
    fn describe(gen: &mut SchemaGenerator) -> Option<(&'static str, Value)>;
    /// The status of a successful answer.
    fn status() -> u16 {
        200
    }
}

/// A response built by the handler itself (HTML, XML, an image, or JSON not yet typed).
pub type Raw = Response<Full<Bytes>>;

impl Answer for Raw {
    fn into_response(self) -> Response<Full<Bytes>> {
        self
    }

    fn describe(_: &mut SchemaGenerator) -> Option<(&'static str, Value)> {
        None
    }
}

/// Answers built by the handler that are not JSON: the document gives their content type.
macro_rules! raw_answers {
    ($($(#[doc = $doc:literal])* $name:ident => $content:literal, $status:literal;)*) => {$(
        $(#[doc = $doc])*
        pub struct $name(pub Raw);

        impl Answer for $name {
            fn into_response(self) -> Response<Full<Bytes>> {
                self.0
            }

            fn describe(_: &mut SchemaGenerator) -> Option<(&'static str, Value)> {
                Some(($content, serde_json::json!({"type": "string"})))
            }

            fn status() -> u16 {
                $status
            }
        }
    )*};
}

raw_answers! {
    /// An HTML page.
    Html => "text/html", 200;
    /// An XML document (the sitemap, the RSS feed).
    Xml => "application/xml", 200;
    /// Plain text (the metrics).
    Text => "text/plain", 200;
    /// An uploaded image (`image/png`, `image/jpeg`, `image/gif` or `image/webp`).
    Image => "image/*", 200;
    /// A redirect (303 See Other) to the page named in `Location`.
    SeeOther => "text/plain", 303;
}

/// A 200 JSON answer of type `T`; its schema comes from `T`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

impl<T: Serialize + JsonSchema> Answer for Json<T> {
    fn into_response(self) -> Response<Full<Bytes>> {
        json_response(StatusCode::OK, &self.0)
    }

    fn describe(gen: &mut SchemaGenerator) -> Option<(&'static str, Value)> {
        Some(("application/json", gen.subschema_for::<T>().to_value()))
    }
}

/// A 201 JSON answer of type `T`.
#[derive(Debug, Clone)]
pub struct Created<T>(pub T);

impl<T: Serialize + JsonSchema> Answer for Created<T> {
    fn into_response(self) -> Response<Full<Bytes>> {
        json_response(StatusCode::CREATED, &self.0)
    }

    fn describe(gen: &mut SchemaGenerator) -> Option<(&'static str, Value)> {
        Some(("application/json", gen.subschema_for::<T>().to_value()))
    }

    fn status() -> u16 {
        201
    }
}

/// A 200 JSON answer that may replay an idempotent request's first answer: a replay says so
/// in `Idempotent-Replayed: true`.
#[derive(Debug, Clone)]
pub struct Replayed<T> {
    pub body: T,
    pub replay: bool,
}

impl<T> Replayed<T> {
    /// The answer of an idempotent outcome, rendered by `render`.
    pub fn of<V>(outcome: &snspmt_store::Idempotent<V>, render: impl FnOnce(&V) -> T) -> Replayed<T> {
        match outcome {
            snspmt_store::Idempotent::Fresh(v) => Replayed { body: render(v), replay: false },
            snspmt_store::Idempotent::Replay(v) => Replayed { body: render(v), replay: true },
        }
    }
}

impl<T: Serialize + JsonSchema> Answer for Replayed<T> {
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut resp = json_response(StatusCode::OK, &self.body);
        if self.replay {
            resp.headers_mut().insert("idempotent-replayed", hyper::header::HeaderValue::from_static("true"));
        }
        resp
    }

    fn describe(gen: &mut SchemaGenerator) -> Option<(&'static str, Value)> {
        Some(("application/json", gen.subschema_for::<T>().to_value()))
    }
}

/// The schema of a type, for a row's `query` and `body`.
pub fn schema_of<T: JsonSchema>(gen: &mut SchemaGenerator) -> Value {
    gen.subschema_for::<T>().to_value()
}

/// Declares the routes of a handler module: `pub static ROUTES: &[Route]`, one per row.
///
/// ```text
/// Op: METHOD "/path/{id}", Access, "log.name",
///     [query Type,] [body Type [as "content/type"],] [limit N,] reply Type,
///     |app, caller, req, id| handler(app, caller, req, id);
/// ```
///
/// The closure-like head binds the app, caller, request and each path parameter (`&str`) for
/// the call, whose output must be `Result<reply Type, ApiError>`: the compiler checks that
/// the declared answer is the handler's.
macro_rules! route_table {
    ($(
        $(#[doc = $doc:literal])*
        $op:ident : $method:ident $pattern:literal, $access:ident, $name:literal,
        $(query $query:ty,)?
        $(body $body:ty $(as $content:literal)?,)?
        $(limit $limit:expr,)?
        reply $reply:ty,
        |$app:pat_param, $caller:pat_param, $req:pat_param $(, $param:ident)*| $call:expr;
    )*) => {
        #[allow(non_snake_case, unused_variables, clippy::needless_lifetimes)]
        mod route_handlers {
            use super::*;
            $(
                pub(super) fn $op<'a>(
                    $app: &'a ::std::sync::Arc<$crate::App>,
                    $caller: &'a $crate::auth::Caller,
                    $req: &'a $crate::request::Req,
                    params: &'a $crate::router::Params,
                ) -> $crate::router::BoxReply<'a> {
                    $(let $param: &'a str = params.get(stringify!($param));)*
                    Box::pin(async move {
                        let answer: Result<$reply, $crate::error::ApiError> = $call.await;
                        answer.map($crate::router::Answer::into_response)
                    })
                }
            )*
        }

        /// The routes this module serves.
        pub static ROUTES: &[$crate::router::Route] = &[$(
            $crate::router::Route {
                op: stringify!($op),
                method: ::hyper::Method::$method,
                pattern: $pattern,
                params: &[$(stringify!($param)),*],
                access: $crate::router::Access::$access,
                name: $name,
                body_limit: $crate::router::route_table!(@limit $($limit)?),
                doc: |gens| $crate::router::OpDoc {
                    query: $crate::router::route_table!(@schema (&mut gens.input) $($query)?),
                    body: $crate::router::route_table!(@schema (&mut gens.input) $($body)?)
                        .map(|s| ($crate::router::route_table!(@content $($($content)?)?), s)),
                    reply: <$reply as $crate::router::Answer>::describe(&mut gens.output),
                    status: <$reply as $crate::router::Answer>::status(),
                },
                handler: route_handlers::$op,
            },
        )*];
    };
    (@content) => { "application/json" };
    (@content $content:literal) => { $content };
    (@limit) => { $crate::router::MAX_BODY };
    (@limit $limit:expr) => { $limit };
    (@schema $gen:tt) => { None };
    (@schema $gen:tt $t:ty) => { Some($crate::router::schema_of::<$t>($gen)) };
}
pub(crate) use route_table;

/// Every route the server answers, from the tables of the handler modules.
pub fn routes() -> impl Iterator<Item = &'static Route> {
    crate::handlers::TABLES.iter().flat_map(|t| t.iter())
}

/// The largest JSON body accepted: 1 MiB.
pub const MAX_BODY: usize = 1024 * 1024;
/// The largest uploaded image: 10 MiB.
pub const MAX_IMAGE: usize = 10 * 1024 * 1024;
/// The largest upload request: the image and the form's framing.
pub const MAX_UPLOAD_BODY: usize = MAX_IMAGE + 64 * 1024;

/// A pattern split into segments, `None` for a parameter.
struct Compiled {
    segs: Vec<Option<&'static str>>,
    route: &'static Route,
}

fn compiled() -> &'static [Compiled] {
    static TABLE: OnceLock<Vec<Compiled>> = OnceLock::new();
    TABLE.get_or_init(|| {
        routes()
            .map(|route| Compiled {
                segs: segments(route.pattern)
                    .map(|s| if s.starts_with('{') && s.ends_with('}') { None } else { Some(s) })
                    .collect(),
                route,
            })
            .collect()
    })
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    trimmed.split('/')
}

/// Whether `segs` fits `pattern`: the same length, literals equal, parameters not empty.
fn fits(pattern: &[Option<&str>], segs: &[&str]) -> bool {
    pattern.len() == segs.len()
        && pattern.iter().zip(segs).all(|(p, s)| match p {
            Some(lit) => lit == s,
            None => !s.is_empty(),
        })
}

/// Resolves a request line. `path` is without the query string.
pub fn route(method: &Method, path: &str) -> Result<Matched, ApiError> {
    let segs: Vec<&str> = segments(path).collect();
    // The most specific fitting pattern: at the first segment where two differ, a literal wins.
    let specificity = |c: &Compiled| c.segs.iter().map(|s| s.is_some()).collect::<Vec<bool>>();
    let best = compiled()
        .iter()
        .filter(|c| fits(&c.segs, &segs))
        .max_by(|a, b| specificity(a).cmp(&specificity(b)))
        .ok_or_else(ApiError::no_such_route)?;
    let pattern = best.route.pattern;
    let same: Vec<&Compiled> = compiled().iter().filter(|c| c.route.pattern == pattern).collect();
    let chosen = same
        .iter()
        .find(|c| c.route.method == method)
        .or_else(|| same.iter().find(|c| method == Method::HEAD && c.route.method == Method::GET))
        .ok_or_else(|| {
            let allow: Vec<&str> = same.iter().map(|c| c.route.method.as_str()).collect();
            ApiError::method_not_allowed(allow.join(", "))
        })?;
    let mut params = Vec::new();
    let names = chosen.route.params.iter();
    for (seg, name) in chosen.segs.iter().zip(&segs).filter(|(p, _)| p.is_none()).map(|(_, s)| s).zip(names) {
        params.push((*name, decode(seg)?));
    }
    Ok(Matched { route: chosen.route, params: Params(params) })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pattern: &str) -> String {
        pattern.replace("{user_id}", "u%401").replace("{id}", "7").replace("{name}", "ab.png")
    }

    #[test]
    fn every_route_resolves_to_itself_with_its_parameters() {
        for r in routes() {
            let m = route(&r.method, &sample(r.pattern)).unwrap_or_else(|e| panic!("{r:?}: {e}"));
            assert!(std::ptr::eq(m.route, r), "{r:?} resolved to {:?}", m.route);
            let names: Vec<&str> = r
                .pattern
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(r.params, names.as_slice(), "{r:?}: the row binds the pattern's parameters");
            for name in names {
                let expected = match name {
                    "user_id" => "u@1",
                    "id" => "7",
                    _ => "ab.png",
                };
                assert_eq!(m.params.get(name), expected, "{r:?}");
            }
        }
    }

    #[test]
    fn operations_and_method_patterns_are_unique() {
        let mut ops = std::collections::BTreeSet::new();
        let mut lines = std::collections::BTreeSet::new();
        for r in routes() {
            assert!(ops.insert(r.op), "operation {} twice", r.op);
            assert!(lines.insert((r.method.as_str(), r.pattern)), "{r:?} twice");
        }
    }

    fn op(method: Method, path: &str) -> Option<&'static str> {
        route(&method, path).ok().map(|m| m.route.op)
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(
            route(&Method::GET, "/api/nope").map(|m| m.route.op).map_err(|e| e.code),
            Err("no_such_route")
        );
        assert_eq!(route(&Method::GET, "/").map_err(|e| e.code).err(), Some("no_such_route"));
        assert_eq!(route(&Method::GET, "/api/users/").map_err(|e| e.code).err(), Some("no_such_route"));
        let e = route(&Method::DELETE, "/api/points").expect_err("405");
        assert_eq!((e.code, e.allow.as_deref()), ("method_not_allowed", Some("GET")));
        assert_eq!(
            route(&Method::GET, "/api/points/deduct").map_err(|e| e.code).err(),
            Some("method_not_allowed")
        );
        assert_eq!(op(Method::HEAD, "/health"), Some("HealthRoot"));
        assert_eq!(route(&Method::GET, "/api/users/%ff").map_err(|e| e.code).err(), Some("invalid_path"));
        assert_eq!(route(&Method::GET, "/api/users/%4").map_err(|e| e.code).err(), Some("invalid_path"));
        // A literal segment beats a parameter, whatever the method.
        assert_eq!(op(Method::POST, "/api/orders/check-status"), Some("CheckOrderStatus"));
        assert_eq!(
            route(&Method::GET, "/api/orders/check-status").map_err(|e| e.code).err(),
            Some("method_not_allowed")
        );
        assert_eq!(op(Method::POST, "/api/admin/services/import"), Some("AdminImportServices"));
        assert_eq!(op(Method::GET, "/api/admin/services/12"), Some("AdminService"));
        assert_eq!(op(Method::GET, "/api/orders/12/"), Some("Order"));
    }

    #[test]
    fn access_levels() {
        let access = |m: Method, p: &str| route(&m, p).ok().map(|m| m.access());
        assert_eq!(access(Method::POST, "/api/register"), Some(Access::Public));
        assert_eq!(access(Method::POST, "/api/points/deduct"), Some(Access::User));
        assert_eq!(access(Method::GET, "/api/admin/transactions"), Some(Access::Admin));
        assert_eq!(access(Method::GET, "/api/users/x"), Some(Access::UserOrAdmin));
        assert_eq!(access(Method::GET, "/api/blog/posts"), Some(Access::Public));
        assert_eq!(access(Method::POST, "/api/blog/posts"), Some(Access::Admin));
        assert_eq!(access(Method::PUT, "/api/blog/posts/1"), Some(Access::Admin));
        assert_eq!(access(Method::GET, "/uploads/a.png"), Some(Access::Public));
        assert_eq!(access(Method::GET, "/api/referral/validate-code"), Some(Access::Public));
        assert_eq!(access(Method::POST, "/api/referral/withdrawal-request"), Some(Access::User));
        assert_eq!(access(Method::POST, "/api/admin/process-withdrawal"), Some(Access::Admin));
        assert_eq!(access(Method::POST, "/api/cron/sync-order-status"), Some(Access::Cron));
        assert_eq!(access(Method::GET, "/metrics"), Some(Access::Metrics));
    }

    #[test]
    fn only_uploads_read_big_bodies() {
        for r in routes() {
            let expected = if r.op == "AdminUploadImage" { MAX_UPLOAD_BODY } else { MAX_BODY };
            assert_eq!(r.body_limit, expected, "{r:?}");
        }
    }
}
