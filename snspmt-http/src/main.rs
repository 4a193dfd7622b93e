//! The `snspmt` command: `serve` (the default) runs the server, `migrate` applies migrations,
//! `check` reports what the configuration reaches, `admin create-user` and `admin token` help
//! an operator start. Configuration comes from the environment (`snspmt --help` lists it);
//! flags given on the command line win over it.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use snspmt_http::clock::{Clock, SystemClock};
use snspmt_http::config::{self, ConfigError};
use snspmt_http::{auth, log, App, Config};
use snspmt_store::{DatabaseUrl, NewAudit, NewUser, ProfilePatch, Store};

#[derive(Parser)]
#[command(name = "snspmt", version, about = "snspmt: an SNS-marketing reseller panel server", after_help = environment_help())]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default)
    Serve(Serve),
    /// Apply pending database migrations and exit
    Migrate(Database),
    /// Load the configuration, connect to the database, and report each integration
    Check(Database),
    /// Operator tools
    #[command(subcommand)]
    Admin(Admin),
    /// Print the OpenAPI document (the one served at /api/openapi.json) and exit
    Openapi,
}

#[derive(Args, Default)]
struct Serve {
    /// The address to listen on (over SNSPMT_ADDR / PORT)
    #[arg(long)]
    addr: Option<String>,
    #[command(flatten)]
    database: Database,
}

#[derive(Args, Default)]
struct Database {
    /// The database (over DATABASE_URL): sqlite://FILE, sqlite::memory:, postgres://…
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Admin {
    /// Create a user who signs in with an e-mail and a password read from standard input
    CreateUser {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
        /// The display name (default: the e-mail's local part)
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        database: Database,
    },
    /// Print a new random admin token, and its SHA-256 for ADMIN_TOKEN_SHA256
    Token,
}

fn environment_help() -> String {
    let mut text = String::from("Environment (flags win over it):\n");
    for (name, meaning) in config::ENVIRONMENT {
        text.push_str(&format!("  {name:<28} {meaning}\n"));
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(Serve::default()));
    if let Command::Admin(Admin::Token) = command {
        let token = auth::random_admin_token();
        println!("ADMIN_TOKEN={token}");
        println!("ADMIN_TOKEN_SHA256={}", auth::token_hash(&token));
        eprintln!("Give the token to the operators; configure either line (the second keeps the token itself out of the configuration).");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snspmt: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(code) => code,
        Err(e) => {
            log::error(&format!("snspmt: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// The configuration, with the command line's values over the environment's. Commands other
/// than `serve` need no admin token: a configured one is not checked.
fn load_config(addr: Option<&str>, database: &Database, serving: bool) -> Result<Config, ConfigError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let config = Config::from_lookup(
        |k| match k {
            "SNSPMT_ADDR" if addr.is_some() => addr.map(str::to_owned),
            "DATABASE_URL" if database.database_url.is_some() => database.database_url.clone(),
            "ADMIN_TOKEN" | "ADMIN_TOKEN_SHA256" if !serving => None,
            _ => env(k),
        },
        auth::random_admin_token,
    )?;
    log::use_json(config.log_json);
    Ok(config)
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    let url = DatabaseUrl::parse(&config.database_url)?;
    let store = snspmt_store::open(&url).await?;
    let report = store.migrate(SystemClock.now()).await?;
    for name in &report.applied {
        log::info(&format!("migration applied: {name}"));
    }
    Ok(store)
}

async fn run(command: Command) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        Command::Serve(serve) => {
            let config = load_config(serve.addr.as_deref(), &serve.database, true)?;
            let store = open_store(&config).await?;
            run_server(config, store).await?;
        }
        Command::Migrate(database) => {
            let config = load_config(None, &database, false)?;
            let store = open_store(&config).await?;
            log::info(&format!("schema at version {}", store.schema_version().await?));
        }
        Command::Check(database) => return check(&database).await,
        Command::Admin(Admin::CreateUser { email, password_stdin, admin, name, database }) => {
            let config = load_config(None, &database, false)?;
            create_user(&config, &email, password_stdin, admin, name).await?;
        }
        Command::Admin(Admin::Token) => {}
        Command::Openapi => {
            let doc = serde_json::to_string_pretty(&snspmt_http::openapi::document()).unwrap_or_default();
            println!("{doc}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_server(config: Config, store: Arc<dyn Store>) -> Result<(), Box<dyn std::error::Error>> {
    if config.admin_token_generated {
        // Once, on stderr and never in the JSON log stream; set ADMIN_TOKEN in production.
        eprintln!("ADMIN_TOKEN was not set; this run's admin token is: {}", config.admin_token);
    }
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            return Err(format!(
                "cannot listen on {}: {e} (choose another with --addr or SNSPMT_ADDR / PORT)",
                config.addr
            )
            .into())
        }
    };
    log::info(&format!(
        "snspmt listening on http://{} ({} database, simulate={})",
        listener.local_addr()?,
        store.backend(),
        config.simulate
    ));
    #[cfg(feature = "console")]
    log::info(&format!(
        "web console: http://{addr}/ (customers), http://{addr}/admin (operators: an admin account or the admin token)",
        addr = listener.local_addr()?
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

/// `snspmt check`: one line per integration; non-zero when the configuration or the database
/// fails.
async fn check(database: &Database) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = match load_config(None, database, true) {
        Ok(c) => c,
        Err(e) => {
            println!("configuration  error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("configuration  ok");
    let mut failed = false;
    match DatabaseUrl::parse(&config.database_url) {
        Err(e) => {
            println!("database       error: {e}");
            failed = true;
        }
        Ok(url) => match snspmt_store::open(&url).await {
            Ok(store) => match store.schema_version().await {
                Ok(v) => println!("database       ok ({}, schema version {v})", store.backend()),
                Err(e) => {
                    println!("database       error: {e}");
                    failed = true;
                }
            },
            Err(e) => {
                println!("database       error: {e}");
                failed = true;
            }
        },
    }
    let state = |real: bool, simulated: bool| match (real, simulated) {
        (true, _) => "configured",
        (false, true) => "simulated",
        (false, false) => "missing",
    };
    let real_kcp = config.kcp.site_cd.is_some() && config.kcp.cert_info.is_some();
    println!(
        "admin token    {}",
        if config.admin_token_generated { "generated for each run (set ADMIN_TOKEN)" } else { "configured" }
    );
    println!(
        "smm panel      {} ({})",
        state(config.smm_api_key.is_some(), config.simulate),
        config.smm_api_url
    );
    println!("kcp            {}", state(real_kcp, config.simulate));
    println!("kakao login    {}", state(config.kakao_app_id.is_some(), false));
    println!("google login   {}", state(config.google.client_id.is_some(), false));
    println!(
        "mail           {}",
        if config.accounts.smtp_url.is_some() { "smtp" } else { "log only (set SNSPMT_SMTP_URL)" }
    );
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn create_user(
    config: &Config,
    email: &str,
    password_stdin: bool,
    admin: bool,
    name: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    if !password_stdin {
        return Err("give the password on standard input with --password-stdin".into());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("password (one line):");
    }
    let mut password = String::new();
    stdin.lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let email = snspmt_core::validate::email(email).map_err(|e| format!("--email: {e}"))?;
    snspmt_core::validate::password(&password).map_err(|e| format!("password: {e}"))?;
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let store = open_store(config).await?;
    let gate = snspmt_http::guard::PasswordGate::new(1, 1);
    let password_hash = auth::hash_password(&gate, password).await.map_err(|e| e.message)?;
    let user_id = format!("u_{}", &auth::token_hash(&auth::random_admin_token())[..20]);
    let now = SystemClock.now();
    let new = NewUser {
        user_id: user_id.clone(),
        email: Some(email.clone()),
        name: name.clone(),
        display_name: name,
        password_hash: Some(password_hash),
    };
    store.create_user(new, now).await.map_err(|e| format!("cannot create {email}: {e}"))?;
    if admin {
        let patch = ProfilePatch { is_admin: Some(true), ..Default::default() };
        let audit = NewAudit {
            actor: "cli".into(),
            action: "users.update".into(),
            target: Some(format!("user:{user_id}")),
            detail: r#"{"is_admin":true,"via":"snspmt admin create-user"}"#.into(),
        };
        store.update_user(&user_id, patch, None, audit, now).await?;
    }
    println!("created {user_id} <{email}>{}", if admin { " (admin)" } else { "" });
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
