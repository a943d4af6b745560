//! TLS to PostgreSQL against the test server, set up by `scripts/postgres-tls` (which `.ci/run`
//! calls): a verified connection with the CA that signed the server's certificate, the
//! refusal of another CA, and `sslmode=disable` honoured. The CAs are read from the server's
//! data directory through SQL (`pg_read_file`, as the superuser the tests connect as).

use suanpan_journal::postgres::{query_text, run_sql, test_database_url, test_schema_url};

/// A CA file of the server's, copied where this process can read it; removed on drop.
struct CaFile(std::path::PathBuf);

impl CaFile {
    /// `None` when the server has not been set up for this test (outside CI: skipped).
    fn of_server(name: &str) -> Option<CaFile> {
        let sql = format!(
            "SELECT pg_read_file(current_setting('data_directory') || '/suanpan-tls-{name}')"
        );
        let pem = match query_text(&format!("{}?sslmode=disable", test_database_url()), &sql) {
            Ok(rows) => rows.first().and_then(|r| r.first()).cloned(),
            Err(e) => {
                let why = format!(
                    "the test PostgreSQL has no TLS set up ({e}); run scripts/postgres-tls"
                );
                assert!(std::env::var_os("CI").is_none(), "{why}");
                eprintln!("skipped: {why}");
                return None;
            }
        }?;
        let path = std::env::temp_dir().join(format!(
            "suanpan-pg-{name}-{}-{:?}.pem",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, pem).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Some(CaFile(path))
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether this connection's session is encrypted, as the server sees it.
fn session_is_tls(url: &str) -> Result<bool, String> {
    let rows = query_text(
        url,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .map_err(|e| e.to_string())?;
    Ok(rows.first().and_then(|r| r.first()).map(String::as_str) == Some("t"))
}

fn with_tls(mode: &str, ca: &CaFile) -> String {
    format!(
        "{}?sslmode={mode}&sslrootcert={}",
        test_database_url(),
        ca.0.display()
    )
}

#[test]
fn the_journal_connects_over_verified_tls_and_refuses_another_ca() {
    let (Some(ca), Some(other)) = (
        CaFile::of_server("ca.crt"),
        CaFile::of_server("other-ca.crt"),
    ) else {
        return;
    };
    for mode in ["verify-full", "verify-ca", "require"] {
        assert_eq!(session_is_tls(&with_tls(mode, &ca)), Ok(true), "{mode}");
    }
    for mode in ["verify-full", "verify-ca"] {
        let refused = session_is_tls(&with_tls(mode, &other))
            .expect_err("a server certificate another CA signed must be refused");
        assert!(refused.contains("certificate"), "{mode}: {refused}");
    }
    assert_eq!(
        session_is_tls(&format!("{}?sslmode=disable", test_database_url())),
        Ok(false)
    );

    // The journal itself (its pool, migrations included) over verified TLS.
    let schema = format!("t_tls_{}", std::process::id());
    let url = format!(
        "{}&sslmode=verify-full&sslrootcert={}",
        test_schema_url(&schema),
        ca.0.display()
    );
    let db = suanpan_journal::postgres::connect(&url);
    let _ = run_sql(
        &test_database_url(),
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
    );
    assert!(db.is_ok(), "{:?}", db.err().map(|e| e.to_string()));
    let url = format!(
        "{}&sslmode=verify-full&sslrootcert={}",
        test_schema_url(&schema),
        other.0.display()
    );
    assert!(suanpan_journal::postgres::connect(&url).is_err());
}
