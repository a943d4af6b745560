//! The access room on both of its homes: `access.db` in a data directory, and the tables in
//! the PostgreSQL database (127.0.0.1:5432 or `SUANPAN_TEST_POSTGRES`, a schema of the test's
//! own). The same rules hold on each: what a key or token can do, revocation, refusals of
//! duplicates, and an audit log that only grows.

use std::sync::Arc;

use suanpan_access::{Access, OperatorRecord, ParticipantRole, Role};
use suanpan_store::postgres::{run_sql, test_database_url, test_schema_url, PgDb};

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}_{}_{nanos}", std::process::id())
}

struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = run_sql(
            &test_database_url(),
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0),
        );
    }
}

fn the_rules_hold(access: &Access) {
    let bank = access
        .add_participant("bank-a", "Bank A", None, ParticipantRole::Member)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bank.owner, 1);
    let refused = access.add_participant("bank-a", "again", None, ParticipantRole::Member);
    assert!(refused.is_err_and(|e| e.contains("exists already")));
    let third = access
        .add_participant("tpp", "Third", Some(7), ParticipantRole::ThirdParty)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(third.owner, 7);
    let zero = access.add_participant("zero", "Zero", Some(0), ParticipantRole::Member);
    assert!(zero.is_err_and(|e| e.contains("owner 0")));
    let found = access.participant("tpp").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.map(|p| p.role), Some(ParticipantRole::ThirdParty));
    assert!(access.participant("nobody").is_ok_and(|p| p.is_none()));

    let key = access
        .create_key("bank-a")
        .unwrap_or_else(|e| panic!("{e}"));
    let record = access.key(&key.key_id).unwrap_or_else(|e| panic!("{e}"));
    let record = record.unwrap_or_else(|| panic!("a new key is found"));
    assert_eq!(record.participant.code, "bank-a");
    assert_eq!(
        record.key_hash,
        suanpan_access::sha256(key.secret.as_bytes())
    );
    assert!(access.create_key("nobody").is_err());
    access
        .revoke_key(&key.key_id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(access.key(&key.key_id).is_ok_and(|k| k.is_none()));
    assert!(access.revoke_key(&key.key_id).is_err(), "revoked twice");

    assert_eq!(access.operators_made(), Ok(0));
    let token = access
        .create_operator("ops-1", Role::Operator)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(access.create_operator("ops-1", Role::Admin).is_err());
    let op = access.operator(&token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(op.as_ref().map(|o| o.role), Some(Role::Operator));
    access
        .revoke_operator("ops-1")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(access.operator(&token).is_ok_and(|o| o.is_none()));
    assert_eq!(access.operators_made(), Ok(1));

    let admin = OperatorRecord {
        name: "root".into(),
        role: Role::Admin,
    };
    let first = access
        .audit(&admin, "freeze_account", "42", "requested")
        .unwrap_or_else(|e| panic!("{e}"));
    let second = access
        .audit(&admin, "freeze_account", "42", "ok")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(second > first);
    let oldest = access.audit_log(0, 10).unwrap_or_else(|e| panic!("{e}"));
    let outcomes: Vec<&str> = oldest.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["requested", "ok"]);
    let newest = access.audit_log_newest(1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].seq, second);
    assert_eq!(access.audit_log(first, 10).map(|r| r.len()), Ok(1));
}

#[test]
fn on_the_data_directory() {
    let dir = std::env::temp_dir().join(unique("suanpan-access"));
    let access = Access::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    the_rules_hold(&access);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn on_postgresql_shared_by_every_node() {
    let schema = Schema(unique("t_access"));
    let url = test_schema_url(&schema.0);
    let db = PgDb::open(&url).unwrap_or_else(|e| panic!("{e}"));
    let access = Access::open_postgres(db.clone()).unwrap_or_else(|e| panic!("{e}"));
    the_rules_hold(&access);

    // A second node on the same database sees the same credentials, and a revocation made
    // through one is seen by the other once it reads again.
    let other = Access::open_postgres(PgDb::open(&url).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let key = access
        .create_key("bank-a")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(other.key(&key.key_id).is_ok_and(|k| k.is_some()));
    access
        .revoke_key(&key.key_id)
        .unwrap_or_else(|e| panic!("{e}"));
    other.forget_cached();
    assert!(other.key(&key.key_id).is_ok_and(|k| k.is_none()));

    // The audit log only grows, whoever asks.
    for sql in [
        "UPDATE access_audit_log SET outcome = 'x'",
        "DELETE FROM access_audit_log",
        "TRUNCATE access_audit_log",
    ] {
        assert!(run_sql(&url, sql).is_err(), "{sql} changed the audit log");
    }
    // Opening again migrates nothing twice.
    assert!(Access::open_postgres(Arc::clone(&db)).is_ok());
}
