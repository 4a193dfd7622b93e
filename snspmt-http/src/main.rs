//! `snspmt serve` (the default) runs the server; `snspmt migrate` applies migrations and exits.
//! Configuration comes from the environment (see the README and `Config`).

use std::process::ExitCode;
use std::sync::Arc;

use snspmt_http::clock::{Clock, SystemClock};
use snspmt_http::{auth, log, App, Config};
use snspmt_store::DatabaseUrl;

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    if !matches!(command.as_str(), "serve" | "migrate") {
        eprintln!("usage: snspmt [serve|migrate]\n\nserve    run the HTTP server (default)\nmigrate  apply pending database migrations and exit");
        return if matches!(command.as_str(), "-h" | "--help" | "help") {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snspmt: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error(&format!("snspmt: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: &str) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env(auth::random_admin_token)?;
    log::use_json(config.log_json);
    let url = DatabaseUrl::parse(&config.database_url)?;
    let store = snspmt_store::open(&url).await?;
    let report = store.migrate(SystemClock.now()).await?;
    for name in &report.applied {
        log::info(&format!("migration applied: {name}"));
    }
    if command == "migrate" {
        log::info(&format!("schema at version {}", report.version));
        return Ok(());
    }
    if config.admin_token_generated {
        // Printed once, so a developer can use the admin API; set ADMIN_TOKEN in production.
        eprintln!("ADMIN_TOKEN was not set; this run's admin token is: {}", config.admin_token);
    }
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    log::info(&format!(
        "snspmt listening on http://{} ({} database, simulate={})",
        listener.local_addr()?,
        store.backend(),
        config.simulate
    ));
    if config.accounts.smtp_url.is_none() {
        log::warn("SNSPMT_SMTP_URL is not set: verification links are written to this log, not mailed");
    }
    let workers = config.workers;
    let sync_every = std::time::Duration::from_secs(config.sync_interval_secs);
    let app = Arc::new(App::new(store, config));
    if workers {
        snspmt_http::jobs::spawn_workers(app.clone(), sync_every);
    } else {
        log::info("in-process workers are off (SNSPMT_WORKERS=0): run the /api/cron endpoints");
    }
    snspmt_http::serve(listener, app, shutdown_signal()).await?;
    log::info("snspmt stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    log::info("shutdown requested");
}
