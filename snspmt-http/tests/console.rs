//! The web console's frame: sign-up and sign-in in a real browser, and the security every
//! console answer carries (cookies, CSRF, CSP, admin pages for operators only).

mod common;

use common::browser::Console;
use common::{Auth, Backend, TestServer, ADMIN_TOKEN};
use hyper::{HeaderMap, Method, StatusCode};

async fn sign_up_sign_out_sign_in(c: Console) {
    let b = &c.browser;
    b.sign_up("kim@example.com", "correct-horse-1").await;
    assert_eq!(b.path().await, "/");
    assert_eq!(b.text("#dashboard-points").await, "0 P");
    assert!(b.html().await.contains("가입을 환영합니다!"), "the welcome message is shown");
    // English on demand, kept by a cookie.
    b.goto("/?lang=en").await;
    assert!(b.text("h1").await.contains("Dashboard"));
    b.goto("/").await;
    assert!(b.text("h1").await.contains("Dashboard"));
    b.goto("/?lang=ko").await;
    b.sign_out().await;
    assert!(b.path().await.starts_with("/login"));
    // A page that needs a session sends the visitor to sign in, and back afterwards.
    b.goto("/").await;
    assert!(b.path().await.starts_with("/login?next="));
    b.fill("input[name=email]", "kim@example.com").await;
    b.fill("input[name=password]", "wrong-password").await;
    b.click("#login-submit").await;
    assert!(b.has(".error, .field-error").await, "a wrong password is said next to the form");
    b.fill("input[name=password]", "correct-horse-1").await;
    b.click("#login-submit").await;
    assert_eq!(b.path().await, "/");
    assert_eq!(b.text("#dashboard-points").await, "0 P");
}

console_tests!(sign_up_sign_out_sign_in);

/// `name=value` of the `Set-Cookie` lines, with their attributes.
fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect()
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers).iter().find_map(|l| {
        l.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned())
    })
}

/// A customer's session cookie and CSRF token, signed up through the form.
async fn signed_up(s: &TestServer, email: &str) -> (String, String) {
    let (_, h, _) = s.raw(Method::GET, "/signup", &[], "").await;
    let csrf = cookie_value(&h, "snspmt_csrf").expect("a CSRF cookie");
    let jar = format!("snspmt_csrf={csrf}");
    let body = format!("csrf={csrf}&email={email}&name=n&password=correct-horse-1");
    let (status, h, _) = s
        .raw(
            Method::POST,
            "/signup",
            &[("cookie", &jar), ("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = cookie_value(&h, "snspmt_session").expect("a session cookie");
    (format!("snspmt_csrf={csrf}; snspmt_session={session}"), csrf)
}

#[tokio::test]
async fn answers_carry_the_security_headers_and_cookie_flags() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(s) = TestServer::start(backend, "console_headers").await else { continue };
        let (status, h, _) = s.raw(Method::GET, "/login", &[], "").await;
        assert_eq!(status, StatusCode::OK);
        let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).expect("a CSP").to_owned();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
        for line in set_cookies(&h) {
            assert!(line.contains("HttpOnly") && line.contains("SameSite=Lax"), "{line}");
            assert!(!line.contains("Secure"), "no Secure flag over plain HTTP: {line}");
        }
        let (cookie, _) = signed_up(&s, "flags@example.com").await;
        assert!(cookie.contains("snspmt_session="));
    }
    // Served over TLS (its public URL says so), every cookie is `Secure`.
    let Some(s) = TestServer::start_with(
        Backend::Sqlite,
        "console_tls",
        &[("SNSPMT_PUBLIC_URL", "https://panel.example")],
    )
    .await
    else {
        return;
    };
    let (_, h, _) = s.raw(Method::GET, "/login", &[], "").await;
    let lines = set_cookies(&h);
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l.contains("; Secure")), "{lines:?}");
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(s) = TestServer::start(backend, "console_csrf").await else { continue };
        let form = [("content-type", "application/x-www-form-urlencoded")];
        // No token, or another browser's token: refused, no account, no session.
        let (status, h, _) =
            s.raw(Method::POST, "/signup", &form, "email=x@example.com&password=correct-horse-1").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(cookie_value(&h, "snspmt_session").is_none());
        let forged = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", "snspmt_csrf=0123456789abcdef0123456789abcdef"),
        ];
        let body = "csrf=fedcba9876543210fedcba9876543210&email=x@example.com&password=correct-horse-1";
        let (status, _, _) = s.raw(Method::POST, "/signup", &forged, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, users) =
            s.call(Method::GET, "/api/admin/users?search=x@example.com", Auth::Admin, None).await;
        assert_eq!(users["total"], 0, "{users}");
        // A signed-in customer's logout needs the token too.
        let (cookie, csrf) = signed_up(&s, "y@example.com").await;
        let jar = [("cookie", cookie.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        let (status, _, _) = s.raw(Method::POST, "/logout", &jar, "").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = s.raw(Method::GET, "/", &jar[..1], "").await;
        assert_eq!(status, StatusCode::OK, "still signed in");
        let (status, _, _) = s.raw(Method::POST, "/logout", &jar, format!("csrf={csrf}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, h, _) = s.raw(Method::GET, "/", &jar[..1], "").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "the session was revoked, not only the cookie");
        assert!(h.get("location").and_then(|v| v.to_str().ok()).is_some_and(|l| l.starts_with("/login")));
    }
}

#[tokio::test]
async fn admin_pages_are_for_operators_only() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(s) = TestServer::start(backend, "console_admin_only").await else { continue };
        let (status, h, _) = s.raw(Method::GET, "/admin", &[], "").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(h
            .get("location")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.starts_with("/admin/login")));
        let (cookie, _) = signed_up(&s, "customer@example.com").await;
        for path in ["/admin", "/admin/users", "/admin/orders", "/admin/purchases", "/admin/nowhere"] {
            let (status, _, _) = s.raw(Method::GET, path, &[("cookie", cookie.as_str())], "").await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} for a customer");
        }
        // A wrong admin token is refused; the right one opens the dashboard.
        let (_, h, _) = s.raw(Method::GET, "/admin/login", &[], "").await;
        let csrf = cookie_value(&h, "snspmt_csrf").expect("csrf");
        let jar = format!("snspmt_csrf={csrf}");
        let form = [("cookie", jar.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        let (status, h, _) =
            s.raw(Method::POST, "/admin/login", &form, format!("csrf={csrf}&token=wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(cookie_value(&h, "snspmt_admin").is_none());
        let (status, h, _) =
            s.raw(Method::POST, "/admin/login", &form, format!("csrf={csrf}&token={ADMIN_TOKEN}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let admin = cookie_value(&h, "snspmt_admin").expect("admin cookie");
        let jar = format!("snspmt_csrf={csrf}; snspmt_admin={admin}");
        let (status, _, _) = s.raw(Method::GET, "/admin", &[("cookie", jar.as_str())], "").await;
        assert_eq!(status, StatusCode::OK);
        // The API keeps its own answers beside the console.
        let (status, _, body) = s.raw(Method::GET, "/api/nowhere", &[], "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["code"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn static_files_come_from_the_binary() {
    let Some(s) = TestServer::start(Backend::Sqlite, "console_static").await else { return };
    for (path, kind) in [
        ("/static/htmx.min.js", "text/javascript"),
        ("/static/console.js", "text/javascript"),
        ("/static/console.css", "text/css"),
    ] {
        let (status, h, _) = s.raw(Method::GET, path, &[], "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(h.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with(kind)));
    }
    let (status, _, _) = s.raw(Method::GET, "/static/nothing.js", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Google sign-in from the console: the button opens `/login/google` (on to Google with a
/// one-time state); the API's callback hands the session to the console's window, which posts
/// it to `/login/session` with its CSRF token.
#[tokio::test]
async fn google_sign_in_hands_its_session_to_the_console() {
    use common::fake_oauth::GoogleClaims;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(h) = common::OauthHarness::start(backend, "console_google").await else { continue };
        let s = &h.server;
        let (status, h_login, page) = s.raw_bytes(Method::GET, "/login", &[], "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&page).contains("id=\"google-login\""), "the button is shown");
        let csrf = cookie_value(&h_login, "snspmt_csrf").expect("csrf");
        let (status, headers, _) = s.raw(Method::GET, "/login/google", &[], "").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let to = headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
        assert!(to.starts_with("https://accounts.google.com/o/oauth2/v2/auth?"), "{to}");
        let state = to.split("state=").nth(1).and_then(|r| r.split('&').next()).expect("state").to_owned();
        let redirect = format!("{}/api/auth/google-callback", common::PUBLIC_URL);
        h.oauth.google_code(
            "code-console",
            &redirect,
            GoogleClaims::new("g-console").verified_email("g@example.com"),
        );
        let (status, _, page) = s
            .raw_bytes(
                Method::GET,
                &format!("/api/auth/google-callback?code=code-console&state={state}"),
                &[],
                "",
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let page = String::from_utf8_lossy(&page).into_owned();
        let token =
            page.split("\"token\":\"").nth(1).and_then(|r| r.split('"').next()).expect("token").to_owned();

        let jar = format!("snspmt_csrf={csrf}");
        let headers = [("cookie", jar.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        // A token that names no session, or no CSRF token: refused, not signed in.
        let (status, h_bad, _) =
            s.raw(Method::POST, "/login/session", &headers, format!("csrf={csrf}&token=forged")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(cookie_value(&h_bad, "snspmt_session").is_none());
        let (status, _, _) = s.raw(Method::POST, "/login/session", &headers, format!("token={token}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // The hand-off: signed in as the Google account.
        let (status, h_ok, _) =
            s.raw(Method::POST, "/login/session", &headers, format!("csrf={csrf}&token={token}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(cookie_value(&h_ok, "snspmt_session").as_deref(), Some(token.as_str()));
        let jar = format!("snspmt_csrf={csrf}; snspmt_session={token}");
        let (status, _, page) = s.raw_bytes(Method::GET, "/", &[("cookie", jar.as_str())], "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&page).contains("dashboard-points"));
    }
}
