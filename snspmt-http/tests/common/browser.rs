//! A real browser for the console's tests: headless Chromium driven through ChromeDriver
//! (Debian's `chromium` and `chromium-driver`), one driver and one browser per test.
//!
//! Every page a test visits is saved as a screenshot under
//! `target/console-screenshots/<test>/NN-<name>.png`.
//!
//! Without ChromeDriver the tests are skipped with a message, except under `CI=true`, where
//! they fail (`.ci/run` installs the packages).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::{Backend, TestServer, ADMIN_TOKEN};

/// A server in simulate mode (the simulated panel and KCP window) whose public URL is its own
/// address, with a browser pointed at it.
pub struct Console {
    pub server: TestServer,
    pub browser: Browser,
}

impl Console {
    /// `None` when the backend is PostgreSQL without a database, or when there is no
    /// ChromeDriver outside CI.
    pub async fn start(backend: Backend, test: &str) -> Option<Console> {
        Self::start_with(backend, test, &[]).await
    }

    pub async fn start_with(backend: Backend, test: &str, vars: &[(&str, &str)]) -> Option<Console> {
        let driver = Driver::find()?;
        let mut all = vec![("SNSPMT_SIMULATE", "1"), ("SNSPMT_PUBLIC_URL", "http://{addr}")];
        all.extend_from_slice(vars);
        let server = TestServer::start_with(backend, test, &all).await?;
        let name = format!("{test}-{}", format!("{backend:?}").to_lowercase());
        let browser = Browser::open(driver, &format!("http://{}", server.addr), &name).await;
        Some(Console { server, browser })
    }
}

/// The ChromeDriver binary.
struct Driver(PathBuf);

impl Driver {
    fn find() -> Option<Driver> {
        let path = std::env::var_os("SNSPMT_CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
        if path.exists() {
            return Some(Driver(path));
        }
        assert!(
            std::env::var("CI").is_err(),
            "no ChromeDriver at {} (install chromium and chromium-driver)",
            path.display()
        );
        eprintln!(
            "skipped: no ChromeDriver at {} (apt-get install chromium chromium-driver)",
            path.display()
        );
        None
    }
}

/// A ChromeDriver process and its browser session.
pub struct Browser {
    pub client: Client,
    base: String,
    shots: PathBuf,
    taken: AtomicUsize,
    driver: Child,
    /// Chromium's profile directory.
    profile: Option<PathBuf>,
}

impl Drop for Browser {
    /// Ends ChromeDriver and the Chromium it started: they run in a process group of their
    /// own, and the whole group is killed (killing ChromeDriver alone leaves Chromium running).
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if let Some(dir) = self.profile.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR/console-screenshots`, else the workspace's `target`.
fn screenshot_root() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"),
    }
    .join("console-screenshots")
}

impl Browser {
    async fn open(driver: Driver, base: &str, test: &str) -> Browser {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        // Chromium's temporary files go under the profile directory too.
        let tmp =
            std::env::temp_dir().join(format!("snspmt-chromium-{}-{port}", std::process::id())).join("tmp");
        std::fs::create_dir_all(&tmp).expect("chromium's temporary directory");
        let child = Command::new(&driver.0)
            .env("TMPDIR", &tmp)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let chromium = std::env::var("SNSPMT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        // A profile directory of our own, removed with the browser.
        let profile = std::env::temp_dir().join(format!("snspmt-chromium-{}-{port}", std::process::id()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=ko-KR", "--no-first-run", "--disable-extensions",
                         format!("--user-data-dir={}", profile.display())],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut client = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = client.expect("a ChromeDriver session");
        let shots = screenshot_root().join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        Browser {
            client,
            base: base.to_owned(),
            shots,
            taken: AtomicUsize::new(0),
            driver: child,
            profile: Some(profile),
        }
    }

    /// Opens `path` on the server and saves its screenshot.
    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("goto");
        self.shot(path).await;
    }

    /// The path (and query) the browser is on.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        let mut p = url.path().to_owned();
        if let Some(q) = url.query() {
            p.push('?');
            p.push_str(q);
        }
        p
    }

    /// Saves a screenshot of the page as it is now, named after `name`.
    pub async fn shot(&self, name: &str) {
        let n = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
        let clean: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
            .trim_matches('_')
            .chars()
            .take(60)
            .collect();
        let clean = if clean.is_empty() { "home".to_owned() } else { clean };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{n:02}-{clean}.png")), png).expect("save screenshot");
    }

    /// The element at `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                let at = self.path_now().await;
                self.shot("missing-element").await;
                panic!("no element {css} on {at}: {e}")
            }
        }
    }

    async fn path_now(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }

    /// Whether an element matches `css` now.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Types `value` into the field at `css` (cleared first).
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    /// Chooses the option with `value` in the select at `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.expect("select");
    }

    /// Clicks `css` and, when that loads a page, waits for it and saves its screenshot.
    pub async fn click(&self, css: &str) {
        let before = self.page_id().await;
        self.find(css).await.click().await.expect("click");
        self.settle(&before).await;
    }

    /// Clicks a button whose form asks for confirmation (`data-confirm`), accepts the question,
    /// and waits for the next page.
    pub async fn click_confirmed(&self, css: &str) {
        let before = self.page_id().await;
        self.find(css).await.click().await.expect("click");
        for _ in 0..50 {
            if self.client.accept_alert().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.settle(&before).await;
    }

    /// A marker of the current document (changes when a new page loads).
    async fn page_id(&self) -> String {
        let marked = self
            .client
            .execute("if (!window.__snspmtPage) { window.__snspmtPage = Math.random().toString(36); } return window.__snspmtPage;", vec![])
            .await;
        marked.ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    /// Waits (up to 10 s) for a page other than `before` to be loaded, then saves it.
    async fn settle(&self, before: &str) {
        for _ in 0..100 {
            let ready = self
                .client
                .execute("return document.readyState === 'complete' && !window.__snspmtPage;", vec![])
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if ready {
                let name = self.path().await;
                self.shot(&name).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // No new page (an in-page change): save what is shown.
        let _ = before;
        let name = self.path().await;
        self.shot(&name).await;
    }

    /// The text of the element at `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// The whole page's HTML.
    pub async fn html(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Reloads the page until `css`'s text contains `needle` (up to `secs`), saving the last.
    pub async fn reload_until(&self, path: &str, css: &str, needle: &str, secs: u64) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            self.client.goto(&format!("{}{path}", self.base)).await.expect("goto");
            let found = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default().contains(needle),
                Err(_) => false,
            };
            if found || std::time::Instant::now() > deadline {
                self.shot(path).await;
                return found;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Signs the browser in as the operator with the admin token.
    pub async fn admin_login(&self) {
        self.goto("/admin/login").await;
        self.fill("input[name=token]", ADMIN_TOKEN).await;
        self.click("#admin-login-submit").await;
    }

    /// Signs up a new customer through the form and lands on the dashboard.
    pub async fn sign_up(&self, email: &str, password: &str) {
        self.goto("/signup").await;
        self.fill("input[name=email]", email).await;
        self.fill("input[name=name]", email.split('@').next().unwrap_or("user")).await;
        self.fill("input[name=password]", password).await;
        self.click("#signup-submit").await;
    }

    /// Signs in through the form.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/login").await;
        self.fill("input[name=email]", email).await;
        self.fill("input[name=password]", password).await;
        self.click("#login-submit").await;
    }

    /// Signs out (the button in the header).
    pub async fn sign_out(&self) {
        self.click("header form[action='/logout'] button").await;
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Generates one test per backend for each `async fn case(c: Console)`.
#[macro_export]
macro_rules! console_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(c) = $crate::common::browser::Console::start($crate::common::Backend::Sqlite, stringify!($case)).await
                    else { return };
                    super::$case(c).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(c) = $crate::common::browser::Console::start($crate::common::Backend::Postgres, stringify!($case)).await
                    else { return };
                    super::$case(c).await;
                }
            )*
        }
    };
}
