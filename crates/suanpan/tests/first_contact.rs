//! What a new user meets first: the binary says what it is and what it takes, refuses a wrong
//! start with one line before it makes anything, and keeps its key store owner-only.

#[allow(dead_code)] // the shared support serves other test binaries too
mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use support::server::{DataDir, Server};

fn suanpan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_suanpan"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan: {e}"))
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("suanpan-first-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn first_error_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn the_binary_tells_its_version_and_fails_without_a_command() {
    let v = suanpan(&["--version"]);
    assert!(v.status.success());
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("suanpan {}", env!("CARGO_PKG_VERSION"))
    );
    let none = suanpan(&[]);
    assert!(!none.status.success(), "no command is not a success");
    assert_eq!(first_error_line(&none), "suanpan: which command?");
}

#[test]
fn a_wrong_data_directory_is_refused_with_one_line_and_nothing_made() {
    let dir = temp("datadir");
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap_or_else(|e| panic!("{e}"));
    let out = suanpan(&[
        "serve",
        "--data",
        &file.to_string_lossy(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(
        first_error_line(&out).contains("is a file, not a data directory"),
        "{}",
        first_error_line(&out)
    );

    let deep = dir.join("missing-parent").join("data");
    let out = suanpan(&[
        "serve",
        "--data",
        &deep.to_string_lossy(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(
        first_error_line(&out).contains("does not exist"),
        "{}",
        first_error_line(&out)
    );
    assert!(!dir.join("missing-parent").exists(), "no parent was made");

    let out = suanpan(&[
        "credentials",
        "participant",
        "--data",
        &deep.to_string_lossy(),
        "--code",
        "A",
        "--name",
        "A",
    ]);
    assert!(!out.status.success());
    assert!(
        first_error_line(&out).contains("does not exist"),
        "{}",
        first_error_line(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_busy_port_is_refused_before_a_data_directory_is_made() {
    let dir = temp("port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = taken
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string();
    let data = dir.join("data");
    let out = suanpan(&[
        "serve",
        "--data",
        &data.to_string_lossy(),
        "--listen",
        &port,
    ]);
    assert!(!out.status.success());
    assert!(
        first_error_line(&out).contains("cannot listen on"),
        "{}",
        first_error_line(&out)
    );
    assert!(!data.exists(), "nothing left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_key_store_is_readable_by_its_owner_alone() {
    let dir = temp("access");
    let out = suanpan(&[
        "credentials",
        "participant",
        "--data",
        &dir.to_string_lossy(),
        "--code",
        "A",
        "--name",
        "A",
    ]);
    assert!(out.status.success(), "{}", first_error_line(&out));
    let mode = std::fs::metadata(dir.join("access.db"))
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    assert_eq!(mode & 0o777, 0o600);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_first_start_makes_one_admin_whose_token_file_calls_the_api() {
    let dir = DataDir::new("first-admin");
    let mut server = Server::start(&dir);
    let token_file = dir.path().join("admin-token");
    let mode = std::fs::metadata(&token_file)
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    assert_eq!(mode & 0o777, 0o600, "the token file is its owner's alone");
    let token = std::fs::read_to_string(&token_file).unwrap_or_default();
    let url = format!("http://{}", server.addr);
    let call = |args: &[&str]| {
        let mut all = vec!["call"];
        all.extend_from_slice(args);
        all.extend(["--url", &url]);
        suanpan(&all)
    };
    let audit = call(&[
        "GET",
        "/v1/audit",
        "--credentials",
        &token_file.to_string_lossy(),
    ]);
    assert!(audit.status.success(), "{}", first_error_line(&audit));
    assert!(String::from_utf8_lossy(&audit.stdout).contains("\"entries\""));

    // A second start makes no other admin: the same token still works, the file unchanged.
    server.terminate();
    assert!(server.wait_exit().success());
    let server = Server::start(&dir);
    let url = format!("http://{}", server.addr);
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap_or_default(),
        token
    );
    let again = suanpan(&[
        "call",
        "GET",
        "/v1/audit",
        "--credentials",
        &token_file.to_string_lossy(),
        "--url",
        &url,
    ]);
    assert!(again.status.success(), "{}", first_error_line(&again));

    // A participant's signed calls, and a refusal as one line and exit 1.
    let key = dir.credentials(&["participant", "--code", "BANK-A", "--name", "Bank A"]);
    assert_eq!(key["role"], "member");
    let key = dir.credentials(&["key", "--participant", "BANK-A"]);
    let key_file = dir.path().join("bank-a.json");
    std::fs::write(&key_file, key.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let kf = key_file.to_string_lossy().into_owned();
    let opened = suanpan(&[
        "call",
        "POST",
        "/v1/accounts",
        "--credentials",
        &kf,
        "--url",
        &url,
        "--body",
        r#"{"id":"42","currency":"CNY","subject_code":"2241.01"}"#,
    ]);
    assert!(opened.status.success(), "{}", first_error_line(&opened));
    assert!(String::from_utf8_lossy(&opened.stdout).contains("\"id\":\"42\""));
    let missing = suanpan(&[
        "call",
        "GET",
        "/v1/accounts/43",
        "--credentials",
        &kf,
        "--url",
        &url,
    ]);
    assert!(!missing.status.success());
    assert!(
        first_error_line(&missing).starts_with("suanpan: 404 account_not_found"),
        "{}",
        first_error_line(&missing)
    );
    assert_eq!(String::from_utf8_lossy(&missing.stderr).lines().count(), 1);
}
