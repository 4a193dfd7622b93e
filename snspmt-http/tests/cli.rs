//! The `snspmt` command line: help, version, unknown commands, `admin token`, `admin
//! create-user`, `check`, and errors that name what failed.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_snspmt");

fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_clear().env("SNSPMT_LOG", "warn").stdin(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn snspmt");
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn pg_url(db: &str, user: &str, port: u16) -> Option<String> {
    std::env::var("SNSPMT_TEST_POSTGRES_URL").ok()?;
    Some(format!("postgres://{user}@127.0.0.1:{port}/{db}"))
}

#[test]
fn help_lists_every_variable_and_version_exits_zero() {
    let help = run(&["--help"], &[], None);
    assert!(help.status.success(), "{}", text(&help));
    let out = text(&help);
    for (name, _) in snspmt_http::config::ENVIRONMENT {
        assert!(out.contains(name), "--help does not mention {name}");
    }
    for command in ["serve", "migrate", "check", "admin"] {
        assert!(out.contains(command), "{out}");
    }
    let version = run(&["--version"], &[], None);
    assert!(version.status.success());
    assert!(text(&version).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_unknown_command_or_flag_is_named_and_exits_two() {
    let o = run(&["frobnicate"], &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("frobnicate"), "{}", text(&o));
    let o = run(&["serve", "--port", "9000"], &[], None);
    assert_eq!(o.status.code(), Some(2), "an unknown flag is not silently ignored");
    assert!(text(&o).contains("--port"), "{}", text(&o));
}

#[test]
fn admin_token_prints_a_token_and_its_digest() {
    let o = run(&["admin", "token"], &[], None);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let token = out.lines().find_map(|l| l.strip_prefix("ADMIN_TOKEN=")).expect("token line");
    let digest = out.lines().find_map(|l| l.strip_prefix("ADMIN_TOKEN_SHA256=")).expect("digest line");
    assert!(token.len() >= 16);
    assert_eq!(digest, snspmt_http::auth::token_hash(token));
}

#[test]
fn migrate_needs_no_admin_token_and_create_user_makes_an_admin() {
    let dir = std::env::temp_dir().join(format!("snspmt-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}", dir.join("cli.db").display());
    let env = [("DATABASE_URL", url.as_str()), ("ADMIN_TOKEN", "admin_sociality_2024")];
    let o = run(&["migrate"], &env, None);
    assert!(o.status.success(), "migrate refused the published token it does not need: {}", text(&o));
    let o = run(
        &["admin", "create-user", "--email", "Boss@Example.com", "--password-stdin", "--admin"],
        &env,
        Some("correct horse battery\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("boss@example.com") && text(&o).contains("(admin)"), "{}", text(&o));
    let o =
        run(&["admin", "create-user", "--email", "boss@example.com", "--password-stdin"], &env, Some("x\n"));
    assert!(!o.status.success(), "a short password or a taken e-mail is refused");
    // The published token is still refused where it matters: serving.
    let o = run(&["serve", "--addr", "127.0.0.1:0"], &env, None);
    assert!(!o.status.success() && text(&o).contains("ADMIN_TOKEN"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_reports_each_integration() {
    let o = run(&["check", "--database-url", "sqlite::memory:"], &[("SNSPMT_SIMULATE", "1")], None);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("database       ok (sqlite"), "{out}");
    assert!(out.contains("smm panel      simulated") && out.contains("kcp            simulated"), "{out}");
    assert!(out.contains("kakao login    missing"), "{out}");
}

#[test]
fn postgres_errors_name_what_failed() {
    let Some(missing_db) = pg_url("snspmt_no_such_database", "postgres", 5432) else { return };
    let o = run(&["check", "--database-url", &missing_db], &[], None);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(
        out.contains("\"snspmt_no_such_database\" does not exist") && out.contains("127.0.0.1:5432"),
        "{out}"
    );
    let unknown_role = pg_url("test", "snspmt_no_such_role", 5432).expect("url");
    let out = text(&run(&["migrate", "--database-url", &unknown_role], &[], None));
    assert!(out.contains("role \"snspmt_no_such_role\" does not exist"), "{out}");
    let free_port =
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let wrong_port = pg_url("test", "postgres", free_port).expect("url");
    let out = text(&run(&["migrate", "--database-url", &wrong_port], &[], None));
    assert!(out.contains(&format!("127.0.0.1:{free_port}")) && out.contains("refused"), "{out}");
}

#[test]
fn a_port_in_use_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let o = run(&["serve", "--addr", &addr, "--database-url", "sqlite::memory:"], &[], None);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(out.contains(&addr) && out.contains("SNSPMT_ADDR"), "{out}");
}

/// The README's quick start, run as written (with the test's binary, a free port and a
/// temporary database): it ends with alice holding 700 points.
#[test]
fn the_readme_quick_start_runs() {
    let readme = include_str!("../../README.md");
    let section = readme.split("## Quick start").nth(1).expect("a quick start");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("its block");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let dir = std::env::temp_dir().join(format!("snspmt-quick-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let script: String = block
        .lines()
        .filter(|l| !l.starts_with("cargo build"))
        .map(|l| {
            l.replace("./target/release/snspmt", BIN).replace("localhost:8080", &format!("127.0.0.1:{port}"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&dir)
        .env("SNSPMT_ADDR", format!("127.0.0.1:{port}"))
        .env("SNSPMT_LOG", "error")
        .env_remove("ADMIN_TOKEN")
        .env_remove("DATABASE_URL")
        .output()
        .expect("bash");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    // curl's answers run together; read them as a stream of JSON values.
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let [.., deducted, paths] = answers.as_slice() else { panic!("answers: {stdout}") };
    assert_eq!(deducted["points"], 700, "{stdout}");
    assert!(paths.as_u64().is_some_and(|n| n > 80), "{stdout}");
}
