//! One way for a room to speak SQL to either home: the SQLite file of the embedded default or
//! the shared PostgreSQL database. A room writes each statement once, in the common subset
//! of the two dialects, with numbered parameters (`?1`, `?2`, ...; turned into `$1`, `$2`
//! for PostgreSQL), and reads rows through [`Row`]'s typed getters. What the two dialects
//! do not share (the DDL, a partial index hint) the room keeps per backend.
//!
//! The subset, as the rooms use it: `ON CONFLICT ... DO UPDATE SET
//! x = excluded.x`, `COALESCE`, `CASE`, and `CAST(SUM(x) AS BIGINT)` where PostgreSQL would
//! otherwise answer a `numeric`. Integers are `i64` (`bigint` on PostgreSQL), flags are
//! bound as booleans (SQLite stores them as 0 and 1).

use std::fmt;

use crate::StoreError;

/// A statement's parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bool(bool),
    Bytes(&'a [u8]),
    /// A signed money figure of up to 128 bits: an integer while it fits 64 bits and decimal
    /// text beyond on SQLite (an `ANY` column), `numeric` on PostgreSQL.
    Money(i128),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<u16> for Param<'_> {
    fn from(v: u16) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Param::Null, Param::Text)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Param::Null, Param::Text)
    }
}

impl<'a> From<Option<&'a [u8]>> for Param<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        v.map_or(Param::Null, Param::Bytes)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Bytes(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Bytes(v)
    }
}

impl From<Option<u32>> for Param<'_> {
    fn from(v: Option<u32>) -> Self {
        v.map_or(Param::Null, |v| Param::Int(i64::from(v)))
    }
}

impl From<u64> for Param<'_> {
    /// A count or an id above `i64::MAX` does not fit an SQL integer: it goes as money (a
    /// wider column) would, so callers check the range where it matters.
    fn from(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(v) => Param::Int(v),
            Err(_) => Param::Money(i128::from(v)),
        }
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::Int)
    }
}

/// The parameters of one statement: `args![a, b, c]` is `&[Param::from(a), ...]`.
#[macro_export]
macro_rules! args {
    () => { &[] as &[$crate::sql::Param<'_>] };
    ($($v:expr),+ $(,)?) => { &[$($crate::sql::Param::from($v)),+] as &[$crate::sql::Param<'_>] };
}

/// A value read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
    /// A PostgreSQL `numeric` without a fraction.
    Big(i128),
}

/// One row of a result, read by column index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Failed(format!("a row has no column {i}")))
    }

    fn wrong(&self, i: usize, wanted: &str) -> StoreError {
        StoreError::Failed(format!(
            "column {i} holds {:?}, not {wanted}",
            self.0.get(i)
        ))
    }

    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Bool(b) => Ok(Some(i64::from(*b))),
            _ => Err(self.wrong(i, "an integer")),
        }
    }

    pub fn i64(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_i64(i)?.ok_or_else(|| self.wrong(i, "an integer"))
    }

    /// A count, an amount or an id: never negative in a room's tables.
    pub fn u64(&self, i: usize) -> Result<u64, StoreError> {
        let v = self.i64(i)?;
        u64::try_from(v).map_err(|_| self.wrong(i, "an unsigned integer"))
    }

    pub fn opt_u64(&self, i: usize) -> Result<Option<u64>, StoreError> {
        match self.opt_i64(i)? {
            None => Ok(None),
            Some(v) => u64::try_from(v)
                .map(Some)
                .map_err(|_| self.wrong(i, "an unsigned integer")),
        }
    }

    pub fn u32(&self, i: usize) -> Result<u32, StoreError> {
        u32::try_from(self.i64(i)?).map_err(|_| self.wrong(i, "a 32-bit unsigned integer"))
    }

    pub fn opt_u32(&self, i: usize) -> Result<Option<u32>, StoreError> {
        self.opt_i64(i)?
            .map(|v| u32::try_from(v).map_err(|_| self.wrong(i, "a 32-bit unsigned integer")))
            .transpose()
    }

    pub fn u16(&self, i: usize) -> Result<u16, StoreError> {
        u16::try_from(self.i64(i)?).map_err(|_| self.wrong(i, "a 16-bit unsigned integer"))
    }

    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.opt_bytes(i)?.ok_or_else(|| self.wrong(i, "bytes"))
    }

    pub fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b.clone())),
            _ => Err(self.wrong(i, "bytes")),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.i64(i)? != 0)
    }

    pub fn opt_str(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            _ => Err(self.wrong(i, "text")),
        }
    }

    pub fn str(&self, i: usize) -> Result<String, StoreError> {
        self.opt_str(i)?.ok_or_else(|| self.wrong(i, "text"))
    }

    /// What [`Param::Money`] wrote.
    pub fn money(&self, i: usize) -> Result<i128, StoreError> {
        match self.at(i)? {
            Value::Int(v) => Ok(i128::from(*v)),
            Value::Big(v) => Ok(*v),
            Value::Text(t) => t.parse().map_err(|_| self.wrong(i, "money")),
            _ => Err(self.wrong(i, "money")),
        }
    }

    /// An integer kept as an integer or as its decimal text (a key-value table's value).
    pub fn u64_or_text(&self, i: usize) -> Result<u64, StoreError> {
        match self.at(i)? {
            Value::Text(t) => t.parse().map_err(|_| self.wrong(i, "an unsigned integer")),
            _ => self.u64(i),
        }
    }
}

/// A connection to a room's home, inside the group's transaction for a write.
pub trait Sql {
    /// Runs a statement; returns the rows it changed.
    fn execute(&self, sql: &str, args: &[Param<'_>]) -> Result<u64, StoreError>;
    /// Runs a query; returns every row.
    fn query(&self, sql: &str, args: &[Param<'_>]) -> Result<Vec<Row>, StoreError>;
    /// Rows changed on this connection so far (a job that fails after changing any spoils
    /// its group).
    fn changes(&self) -> u64;
    /// Which dialect, for the rare statement the two do not share.
    fn dialect(&self) -> Dialect;

    /// Runs an `INSERT` of one row into a table whose key the database numbers, and returns
    /// the number it gave (`column`): on SQLite the row id (SQLite's `RETURNING` costs its
    /// writer a tenth more in the gateway's benchmark), on PostgreSQL `RETURNING column`.
    fn insert_numbered(
        &self,
        sql: &str,
        args: &[Param<'_>],
        column: &str,
    ) -> Result<i64, StoreError>;

    /// Runs one statement for each row of `args`, `width` parameters a row, prepared once:
    /// what a step that writes a row per account (a million of them) needs.
    fn execute_many(&self, sql: &str, width: usize, args: &[Param<'_>]) -> Result<u64, StoreError> {
        let mut changed = 0;
        for row in args.chunks(width.max(1)) {
            changed += self.execute(sql, row)?;
        }
        Ok(changed)
    }

    /// The first row, if any.
    fn query_row(&self, sql: &str, args: &[Param<'_>]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row, which a query that always answers one (`COUNT`, `MAX`) must have.
    fn query_one(&self, sql: &str, args: &[Param<'_>]) -> Result<Row, StoreError> {
        self.query_row(sql, args)?
            .ok_or_else(|| StoreError::Failed(format!("no row from: {sql}")))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
        })
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null => ValueRef::Null,
            Param::Int(v) => ValueRef::Integer(*v),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Bool(b) => ValueRef::Integer(i64::from(*b)),
            Param::Bytes(b) => ValueRef::Blob(b),
            Param::Money(v) => match i64::try_from(*v) {
                Ok(v) => ValueRef::Integer(v),
                Err(_) => {
                    return Ok(ToSqlOutput::Owned(rusqlite::types::Value::Text(
                        v.to_string(),
                    )))
                }
            },
        }))
    }
}

impl Sql for rusqlite::Connection {
    fn execute(&self, sql: &str, args: &[Param<'_>]) -> Result<u64, StoreError> {
        let n = self
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(args))?;
        Ok(n as u64)
    }

    fn query(&self, sql: &str, args: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.prepare_cached(sql)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                    ValueRef::Real(_) => {
                        return Err(StoreError::Failed(format!(
                            "column {i} holds a floating-point value; rooms keep none"
                        )))
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_many(&self, sql: &str, width: usize, args: &[Param<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.prepare_cached(sql)?;
        let mut changed = 0;
        for row in args.chunks(width.max(1)) {
            changed += stmt.execute(rusqlite::params_from_iter(row))? as u64;
        }
        Ok(changed)
    }

    fn changes(&self) -> u64 {
        self.total_changes()
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn insert_numbered(
        &self,
        sql: &str,
        args: &[Param<'_>],
        _column: &str,
    ) -> Result<i64, StoreError> {
        Sql::execute(self, sql, args)?;
        Ok(self.last_insert_rowid())
    }
}

/// `?N` placeholders as PostgreSQL's `$N` (outside quoted text).
pub fn to_postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_change_outside_quotes_only() {
        assert_eq!(
            to_postgres_placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $12"
        );
    }

    #[test]
    fn rows_read_back_typed_and_refuse_the_wrong_type() {
        let conn = rusqlite::Connection::open_in_memory().expect("opens");
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT, f INTEGER)")
            .expect("creates");
        let n = Sql::execute(
            &conn,
            "INSERT INTO t (k, v, f) VALUES (?1, ?2, ?3)",
            args![7i64, "seven", true],
        )
        .expect("inserts");
        assert_eq!(n, 1);
        let sql: &dyn Sql = &conn;
        let row = sql
            .query_one("SELECT k, v, f, NULL FROM t WHERE k = ?1", args![7i64])
            .expect("reads");
        assert_eq!(row.u64(0), Ok(7));
        assert_eq!(row.str(1).as_deref(), Ok("seven"));
        assert_eq!(row.bool(2), Ok(true));
        assert_eq!(row.opt_str(3), Ok(None));
        assert!(row.i64(1).is_err());
        assert!(row.str(3).is_err());
        assert!(row.i64(9).is_err());
        let none = sql
            .query_row("SELECT k FROM t WHERE k = ?1", args![8i64])
            .expect("reads");
        assert_eq!(none, None);
    }

    #[test]
    fn many_rows_of_one_statement_are_each_written_with_their_own_arguments() {
        let conn = rusqlite::Connection::open_in_memory().expect("opens");
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v ANY) STRICT")
            .expect("creates");
        let sql: &dyn Sql = &conn;
        let big = i128::from(i64::MAX) * 4;
        let rows = [
            Param::Int(1),
            Param::Money(-5),
            Param::Int(2),
            Param::Money(big),
            Param::Int(3),
            Param::Text("x"),
        ];
        let n = sql
            .execute_many("INSERT INTO t (k, v) VALUES (?1, ?2)", 2, &rows)
            .expect("inserts");
        assert_eq!(n, 3);
        let back = sql
            .query("SELECT k, v FROM t ORDER BY k", args![])
            .expect("reads");
        assert_eq!(back.len(), 3);
        assert_eq!(back[0].money(1), Ok(-5));
        assert_eq!(back[1].money(1), Ok(big));
        assert_eq!(back[2].str(1).as_deref(), Ok("x"));
        // A row that fails stops the rest.
        let again = sql.execute_many("INSERT INTO t (k, v) VALUES (?1, ?2)", 2, &rows[4..]);
        assert!(again.is_err());
    }
}
