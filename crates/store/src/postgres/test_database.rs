//! The one place that names the PostgreSQL database the tests of every crate use, so pointing
//! them at another server is one environment variable, not an edit in each test file.

/// The environment variable that overrides the test database's URL.
pub const TEST_DATABASE_VAR: &str = "SUANPAN_TEST_POSTGRES";

/// The local server's `test` database, user `postgres` with trust authentication.
const TEST_DATABASE_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test database's URL: `SUANPAN_TEST_POSTGRES` if set, else the local server's `test`.
pub fn test_database_url() -> String {
    std::env::var(TEST_DATABASE_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| TEST_DATABASE_DEFAULT.to_string())
}

/// The test database with its `search_path` set to `schema` (each test in a schema of its
/// own), whether or not the URL already has query parameters.
pub fn test_schema_url(schema: &str) -> String {
    let base = test_database_url();
    let joiner = if base.contains('?') { '&' } else { '?' };
    format!("{base}{joiner}options=-csearch_path%3D{schema}")
}
