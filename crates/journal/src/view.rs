//! The `transfers` view of both backends: one row per committed transfer, read straight from
//! the batch bodies (layout.rs) with nothing but SQL, so the standard `sqlite3` and `psql`
//! read the books without a Suanpan binary. Batches written in the first form keep their
//! transfers as JSON rows in `transfers_by_batch`; the view reads those too.
//!
//! The view reads each body in three steps, each a subquery the planner keeps apart
//! (`LIMIT -1 OFFSET 0` and `CROSS JOIN` in SQLite, which then streams them as co-routines;
//! `OFFSET 0` in PostgreSQL): the batch's header once, then each record's bytes once, then
//! the columns from those few bytes. Folded into one, every column would read the whole body
//! again. Even so a full scan with SQLite 3.40 costs about 22 µs a row (docs/benchmarks.md),
//! most of it the byte-by-byte decoding in SQL. The history index (`history.db`) answers by id
//! and by account; the view is for reading.

use crate::layout::{col, HEADER};

/// SQLite has no function from bytes to a number: a byte is its place in this table.
fn byte_table() -> String {
    let mut hex = String::with_capacity(512);
    for b in 0..=255u8 {
        hex.push_str(&format!("{b:02X}"));
    }
    format!("X'{hex}'")
}

/// The byte at 0-based `at` of the blob `blob`, as an integer.
fn byte(blob: &str, at: &str) -> String {
    format!("(instr((SELECT t FROM c), substr({blob}, {at} + 1, 1)) - 1)")
}

/// The big-endian number in bytes [`from`, `to`) of `blob`, at most 8 of them.
fn uint(blob: &str, from: &str, to: &str) -> String {
    let terms: Vec<String> = (0..8)
        .map(|i| {
            format!(
                "CASE WHEN {to} - {from} > {i} THEN {} << {} ELSE 0 END",
                byte(blob, &format!("{to} - {}", i + 1)),
                8 * i
            )
        })
        .collect();
    format!("({})", terms.join(" | "))
}

/// Column `c` of record `r.rec`.
fn field(c: usize) -> String {
    uint("r.rec", &format!("r.o{c}"), &format!("r.o{}", c + 1))
}

/// SQLite's view, for a journal of either form.
pub fn sqlite_transfers() -> String {
    let offsets: Vec<String> = (0..=col::COUNT)
        .map(|c| format!("{} AS o{c}", byte("body", &format!("{}", 27 + c))))
        .collect();
    let header = |from: usize, to: usize| uint("body", &from.to_string(), &to.to_string());
    let fields: Vec<String> = [
        ("command", col::COMMAND),
        ("ts", col::TIMESTAMP),
        ("id_x", col::ID),
        ("id_y", col::ID + 1),
        ("id_z", col::ID + 2),
        ("debit_x", col::DEBIT),
        ("debit_y", col::DEBIT + 1),
        ("debit_z", col::DEBIT + 2),
        ("credit_x", col::CREDIT),
        ("credit_y", col::CREDIT + 1),
        ("credit_z", col::CREDIT + 2),
        ("amount_y", col::AMOUNT + 1),
        ("amount_z", col::AMOUNT + 2),
        ("code", col::CODE),
        ("flags", col::FLAGS),
        ("pending_x", col::PENDING),
        ("pending_y", col::PENDING + 1),
        ("pending_z", col::PENDING + 2),
        ("timeout_ms", col::TIMEOUT),
        ("ref_at", col::REF_AT),
        ("ref_len", col::REF_LEN),
        ("date", col::DATE),
        ("rdebit_x", col::RESOLVED_DEBIT),
        ("rdebit_y", col::RESOLVED_DEBIT + 1),
        ("rdebit_z", col::RESOLVED_DEBIT + 2),
        ("rcredit_x", col::RESOLVED_CREDIT),
        ("rcredit_y", col::RESOLVED_CREDIT + 1),
        ("rcredit_z", col::RESOLVED_CREDIT + 2),
        ("ramount_y", col::RESOLVED_AMOUNT + 1),
        ("ramount_z", col::RESOLVED_AMOUNT + 2),
    ]
    .iter()
    .map(|(name, c)| format!("{} AS {name}", field(*c)))
    .collect();
    let decimal = |p: &str| {
        format!("coalesce(nullif(ltrim(printf('%d%018d%018d', q.{p}_x, q.{p}_y, q.{p}_z), '0'), ''), '0')")
    };
    let amount = |p: &str| {
        format!("CASE WHEN q.{p}_y < 9 THEN q.{p}_y * 1000000000000000000 + q.{p}_z ELSE printf('%d%018d', q.{p}_y, q.{p}_z) END")
    };
    let resolves = "(q.flags & 12) != 0";
    // Where the dates and the references start: after the header and the records.
    let records_end = format!("{HEADER} + q.n * q.o{}", col::COUNT);
    format!(
        "CREATE VIEW transfers AS
WITH c(t) AS (SELECT {table})
SELECT t.value ->> 0  AS timestamp,  -- engine time in ns; unique and increasing
       t.value ->> 1  AS id,
       t.value ->> 2  AS debit_account_id,
       t.value ->> 3  AS credit_account_id,
       t.value ->> 4  AS amount,
       t.value ->> 5  AS currency,
       t.value ->> 6  AS code,
       t.value ->> 7  AS flags,
       t.value ->> 8  AS pending_id,
       t.value ->> 9  AS timeout_ms,
       t.value ->> 10 AS reference,
       t.value ->> 11 AS accounting_date,
       b.batch        AS batch
FROM transfers_by_batch AS b, json_each(b.rows) AS t
UNION ALL
SELECT q.t0 + q.ts AS timestamp,
       {id} AS id,
       CASE WHEN {resolves} THEN {rdebit} ELSE {debit} END AS debit_account_id,
       CASE WHEN {resolves} THEN {rcredit} ELSE {credit} END AS credit_account_id,
       CASE WHEN {resolves} THEN {ramount} ELSE {amount} END AS amount,
       q.currency AS currency,
       q.code AS code,
       q.flags AS flags,
       nullif({pending}, '0') AS pending_id,
       q.timeout_ms AS timeout_ms,
       CASE WHEN q.ref_len = 0 THEN NULL ELSE (SELECT CAST(substr(body, {records_end} + 10 * q.k + q.ref_at + 1, q.ref_len) AS TEXT) FROM batches WHERE seq = q.batch) END AS reference,
       CASE WHEN q.date = 0 THEN q.d0 ELSE (SELECT CAST(substr(body, {records_end} + 10 * (q.date - 1) + 1, 10) AS TEXT) FROM batches WHERE seq = q.batch) END AS accounting_date,
       q.batch AS batch
FROM (
    SELECT r.batch, r.d0, r.t0, r.n, r.k, r.o{count},
           CAST(substr(r.rec, r.o{currency} + 1, 3) AS TEXT) AS currency,
           {fields}
    FROM (
        SELECT h.*, s.key AS i, substr(b.body, {first} + s.key * h.o{count}, h.o{count}) AS rec
        FROM (
            SELECT seq AS batch, accounting_date AS d0,
                   {t0} AS t0, {n} AS n, {k} AS k,
                   {offsets}
            FROM batches WHERE substr(body, 1, 5) = X'FFFFFFFF02'
            LIMIT -1 OFFSET 0
        ) AS h
        CROSS JOIN batches AS b
        CROSS JOIN json_each('[' || replace(hex(zeroblob(h.n - 1)), '00', '0,') || '0]') AS s
        WHERE h.n > 0 AND b.seq = h.batch
        LIMIT -1 OFFSET 0
    ) AS r
    WHERE {result} = 0
) AS q;
",
        table = byte_table(),
        id = decimal("id"),
        debit = decimal("debit"),
        credit = decimal("credit"),
        rdebit = decimal("rdebit"),
        rcredit = decimal("rcredit"),
        amount = amount("amount"),
        ramount = amount("ramount"),
        pending = decimal("pending"),
        count = col::COUNT,
        currency = col::CURRENCY,
        fields = fields.join(",\n           "),
        first = HEADER + 1,
        t0 = header(13, 21),
        n = header(9, 13),
        k = header(21, 23),
        offsets = offsets.join(",\n                   "),
        result = field(col::RESULT),
    )
}

/// PostgreSQL's view and the functions it reads bytes with (a migration: see
/// postgres/migrations.rs).
pub const POSTGRES_TRANSFERS: &str = r#"
-- The big-endian number in bytes [a, z) of b (at most 8).
CREATE FUNCTION suanpan_uint(b bytea, a integer, z integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ('x' || lpad(encode(substring(b FROM a + 1 FOR z - a), 'hex'), 16, '0'))::bit(64)::bigint $$;

-- A 128-bit number stored as x·10^36 + y·10^18 + z in bytes [o[i], o[i+3]).
CREATE FUNCTION suanpan_big(b bytea, o integer[], i integer) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT suanpan_uint(b, o[i], o[i + 1])::numeric * 1e36
               + suanpan_uint(b, o[i + 1], o[i + 2])::numeric * 1e18
               + suanpan_uint(b, o[i + 2], o[i + 3]) $$;

-- A reference: its text, or hex: and its bytes when it is not UTF-8.
CREATE FUNCTION suanpan_text(b bytea) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN others THEN
    RETURN 'hex:' || encode(b, 'hex');
END
$$;

DROP VIEW transfers;
CREATE VIEW transfers AS
    SELECT (t.value ->> 0)::bigint AS "timestamp",
           t.value ->> 1  AS id,
           t.value ->> 2  AS debit_account_id,
           t.value ->> 3  AS credit_account_id,
           (t.value ->> 4)::numeric AS amount,
           t.value ->> 5  AS currency,
           (t.value ->> 6)::integer AS code,
           (t.value ->> 7)::integer AS flags,
           t.value ->> 8  AS pending_id,
           (t.value ->> 9)::bigint AS timeout_ms,
           t.value ->> 10 AS reference,
           t.value ->> 11 AS accounting_date,
           b.batch        AS batch
    FROM transfers_by_batch AS b, jsonb_array_elements(b.rows::jsonb) AS t(value)
    UNION ALL
    SELECT q.t0 + q.ts,
           suanpan_big(q.rec, q.o, 3)::text,
           (CASE WHEN q.resolves THEN suanpan_big(q.rec, q.o, 25) ELSE suanpan_big(q.rec, q.o, 6) END)::text,
           (CASE WHEN q.resolves THEN suanpan_big(q.rec, q.o, 28) ELSE suanpan_big(q.rec, q.o, 9) END)::text,
           CASE WHEN q.resolves THEN suanpan_big(q.rec, q.o, 31) ELSE suanpan_big(q.rec, q.o, 12) END,
           convert_from(substring(q.rec FROM q.o[15] + 1 FOR 3), 'UTF8'),
           q.code,
           q.flags,
           nullif(suanpan_big(q.rec, q.o, 18), 0)::text,
           suanpan_uint(q.rec, q.o[21], q.o[22]),
           CASE WHEN q.ref_len = 0 THEN NULL
                ELSE suanpan_text(substring(q.body FROM q.records_end + 10 * q.k + q.ref_at + 1 FOR q.ref_len)) END,
           CASE WHEN q.date = 0 THEN q.d0
                ELSE convert_from(substring(q.body FROM q.records_end + 10 * (q.date - 1) + 1 FOR 10), 'UTF8') END,
           q.batch
    FROM (
        SELECT r.*,
               suanpan_uint(r.rec, r.o[2], r.o[3]) AS ts,
               suanpan_uint(r.rec, r.o[16], r.o[17])::integer AS code,
               suanpan_uint(r.rec, r.o[17], r.o[18])::integer AS flags,
               suanpan_uint(r.rec, r.o[17], r.o[18]) & 12 <> 0 AS resolves,
               suanpan_uint(r.rec, r.o[22], r.o[23])::integer AS ref_at,
               suanpan_uint(r.rec, r.o[23], r.o[24])::integer AS ref_len,
               suanpan_uint(r.rec, r.o[24], r.o[25])::integer AS date,
               62 + r.n * r.o[35] AS records_end
        FROM (
            SELECT h.*, substring(h.body FROM 63 + s.i * h.o[35] FOR h.o[35]) AS rec
            FROM (
                -- The body once per batch, out of TOAST: each record is then a slice of it.
                SELECT b.seq AS batch, b.accounting_date AS d0, b.body || ''::bytea AS body,
                       suanpan_uint(b.body, 13, 21) AS t0,
                       suanpan_uint(b.body, 9, 13)::integer AS n,
                       suanpan_uint(b.body, 21, 23)::integer AS k,
                       ARRAY(SELECT get_byte(substring(b.body FROM 28 FOR 35), c)
                             FROM generate_series(0, 34) AS c ORDER BY c) AS o
                FROM batches AS b
                WHERE substring(b.body FROM 1 FOR 5) = '\xffffffff02'::bytea
                OFFSET 0
            ) AS h, generate_series(0, h.n - 1) AS s(i)
            OFFSET 0
        ) AS r
        WHERE suanpan_uint(r.rec, r.o[34], r.o[35]) = 0
        OFFSET 0
    ) AS q;
"#;

#[cfg(test)]
mod tests {
    use rusqlite::{params, Connection};
    use suanpan_ledger::{
        Command, Currency, Reference, ResultCode, Stamped, Transfer, TransferFlags,
    };

    use crate::batch::Resolved;
    use crate::history::{rows_of_body, TransferRow};

    /// A batch of transfers with every column in use, a post and a void resolved, a rejected
    /// transfer, and a cutover half way.
    fn batch(seq: u64, n: usize) -> (Vec<u8>, Vec<u8>) {
        let mut commands = Vec::new();
        let mut resolved = Vec::new();
        for i in 0..n {
            let i128 = i as u128;
            let mut t = Transfer::new(
                ((seq as u128) << 64) | (i128 * 7919),
                1 + i128 % 5,
                u128::MAX - i128,
                (i as u64) << (i % 60),
                if i % 2 == 0 {
                    Currency::CNY
                } else {
                    Currency::from_bytes(*b"USD").unwrap_or(Currency::CNY)
                },
            );
            t.code = (i * 31) as u16;
            match i % 6 {
                1 => {
                    t.flags = TransferFlags(TransferFlags::PENDING);
                    t.timeout_ms = 60_000;
                    t.reference =
                        Reference::new(format!("订单-{i}").as_bytes()).unwrap_or(Reference::EMPTY);
                }
                2 | 3 => {
                    t.flags = TransferFlags(if i % 6 == 2 {
                        TransferFlags::POST_PENDING
                    } else {
                        TransferFlags::VOID_PENDING
                    });
                    t.pending_id = u128::from(seq) * 1_000 + i128;
                    (t.debit_account_id, t.credit_account_id, t.amount) = (0, 0, 0);
                    resolved.push(Resolved {
                        command: commands.len() as u32,
                        debit_account_id: 10 + i128,
                        credit_account_id: 1 << 90,
                        amount: 5 + i as u64,
                    });
                }
                _ => {}
            }
            if i == n / 2 {
                commands.push(Stamped {
                    timestamp: 0,
                    command: Command::Cutover {
                        date: suanpan_ledger::AccountingDate(20_400 + seq as i32),
                    },
                });
            }
            commands.push(Stamped {
                timestamp: 0,
                command: Command::CreateTransfer(t),
            });
        }
        for (i, c) in commands.iter_mut().enumerate() {
            c.timestamp = 1_765_000_000_000_000_000 + seq * 1_000_000 + 37 * i as u64;
        }
        let results: Vec<ResultCode> = (0..commands.len())
            .map(|i| {
                if i % 11 == 10 {
                    ResultCode::Exists
                } else {
                    ResultCode::Ok
                }
            })
            .collect();
        resolved.retain(|r| results[r.command as usize] == ResultCode::Ok);
        let mut body = Vec::new();
        crate::layout::encode(
            &[commands.len() as u32],
            &commands,
            &results,
            &resolved,
            &mut body,
        );
        (body, crate::record::encode_results(&results))
    }

    fn view_rows(conn: &Connection) -> Vec<TransferRow> {
        let mut stmt = conn
            .prepare(
                "SELECT timestamp, id, debit_account_id, credit_account_id, amount, currency, code,
                        flags, pending_id, timeout_ms, reference, accounting_date, batch
                 FROM transfers ORDER BY batch, timestamp",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let rows = stmt
            .query_map([], |r| {
                let id = |i: usize| -> rusqlite::Result<u128> {
                    Ok(r.get::<_, Option<String>>(i)?
                        .map_or(0, |s| s.parse().unwrap_or(u128::MAX)))
                };
                let amount = match r.get_ref(4)? {
                    rusqlite::types::ValueRef::Integer(v) => v as u64,
                    v => v.as_str()?.parse().unwrap_or(0),
                };
                Ok(TransferRow {
                    timestamp: r.get::<_, i64>(0)? as u64,
                    id: id(1)?,
                    debit_account_id: id(2)?,
                    credit_account_id: id(3)?,
                    amount,
                    currency: r.get(5)?,
                    code: r.get(6)?,
                    flags: r.get(7)?,
                    pending_id: id(8)?,
                    timeout_ms: r.get::<_, i64>(9)? as u64,
                    reference: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
                    accounting_date: r.get(11)?,
                    batch: r.get::<_, i64>(12)? as u64,
                })
            })
            .unwrap_or_else(|e| panic!("{e}"));
        rows.collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The view shows every committed transfer exactly as the journal's own reading of the
    /// body does (the history index reads it that way), beside the JSON rows of batches of
    /// the first form.
    #[test]
    fn sqlite_view_reads_the_bodies_exactly() {
        let conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(crate::schema::BATCH_TABLES)
            .unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(&super::sqlite_transfers())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut expected = Vec::new();
        for (seq, n) in [(1u64, 1usize), (2, 40), (3, 0), (4, 300)] {
            let (body, results) = batch(seq, n);
            conn.execute(
                "INSERT INTO batches VALUES (?1, '2025-11-08', 0, 0, 0, ?2, ?3, X'00')",
                params![seq as i64, body, results],
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let rows =
                rows_of_body(seq, "2025-11-08", &body, &results).unwrap_or_else(|e| panic!("{e}"));
            expected.extend(rows.unwrap_or_default());
        }
        // A batch of the first form: its transfers are a JSON row.
        conn.execute(
            "INSERT INTO transfers_by_batch VALUES (0, '[[5,\"9\",\"1\",\"2\",3,\"CNY\",0,0,null,0,null,\"2025-11-07\"]]')",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut first = crate::history::rows_of_json(
            0,
            "[[5,\"9\",\"1\",\"2\",3,\"CNY\",0,0,null,0,null,\"2025-11-07\"]]",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        first.extend(expected);
        let expected = first;
        assert!(expected.len() > 250);
        assert!(expected
            .iter()
            .any(|r| r.accounting_date != "2025-11-08" && r.batch > 0));
        assert!(expected.iter().any(|r| !r.reference.is_empty()));
        assert!(expected.iter().any(|r| r.pending_id != 0));
        assert!(expected.iter().any(|r| r.amount > i64::MAX as u64));
        assert_eq!(view_rows(&conn), expected);
    }

    /// The same on PostgreSQL: the view through `psql`'s eyes (text) against the journal's
    /// own reading of the bodies.
    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_view_reads_the_bodies_exactly() {
        use suanpan_store::postgres::{query_text, run_sql, test_database_url, test_schema_url};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let schema = format!("t_view_{}_{nanos}", std::process::id());
        let url = test_schema_url(&schema);
        struct Dropped(String);
        impl Drop for Dropped {
            fn drop(&mut self) {
                let _ = run_sql(
                    &test_database_url(),
                    &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0),
                );
            }
        }
        let _dropped = Dropped(schema.clone());
        drop(crate::postgres::connect(&url).unwrap_or_else(|e| panic!("{e}")));
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut expected = Vec::new();
        for (seq, n) in [(1u64, 1usize), (2, 40), (3, 0), (4, 300)] {
            let (body, results) = batch(seq, n);
            run_sql(
                &url,
                &format!(
                    "INSERT INTO batches VALUES ({seq}, '2025-11-08', 0, 0, 0, '\\x{}', '\\x{}', '\\x00')",
                    hex(&body),
                    hex(&results)
                ),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let rows =
                rows_of_body(seq, "2025-11-08", &body, &results).unwrap_or_else(|e| panic!("{e}"));
            expected.extend(rows.unwrap_or_default());
        }
        let expected: Vec<Vec<String>> = expected
            .iter()
            .map(|r| {
                let id = |v: u128| if v == 0 { String::new() } else { v.to_string() };
                vec![
                    r.timestamp.to_string(),
                    r.id.to_string(),
                    r.debit_account_id.to_string(),
                    r.credit_account_id.to_string(),
                    r.amount.to_string(),
                    r.currency.clone(),
                    r.code.to_string(),
                    r.flags.to_string(),
                    id(r.pending_id),
                    r.timeout_ms.to_string(),
                    r.reference.clone(),
                    r.accounting_date.clone(),
                    r.batch.to_string(),
                ]
            })
            .collect();
        let got = query_text(&url, "SELECT * FROM transfers ORDER BY batch, timestamp")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(expected.len() > 250);
        assert_eq!(got, expected);
    }
}
