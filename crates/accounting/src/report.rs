//! The day's reports: the trial balance (试算平衡表, top-level subjects) and the subject
//! balance table (科目余额表, every level, parents summing their children), as CSV and JSON
//! files under `reports/<date>/` in the data directory. Written to a temporary name and
//! renamed, so a reader never sees half a file and a rerun writes the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use suanpan_ledger::{AccountingDate, Currency};

use crate::chart::{Chart, Subject};
use crate::general_ledger::{GlRow, TrialBalance};
use crate::AccountingError;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SubjectBalance {
    pub subject_code: String,
    pub name: String,
    /// 1 for a top-level subject, 2 for its children, ...
    pub level: usize,
    pub currency: Currency,
    pub opening: i128,
    pub debits: u128,
    pub credits: u128,
    pub closing: i128,
}

/// Every subject with a row, and every ancestor summing its descendants, in code order.
pub fn subject_balances(chart: &Chart, gl: &[GlRow]) -> Vec<SubjectBalance> {
    let mut out: BTreeMap<(String, Currency), SubjectBalance> = BTreeMap::new();
    for row in gl {
        let mut code = Some(row.subject_code.as_str());
        while let Some(c) = code {
            let entry =
                out.entry((c.to_string(), row.currency))
                    .or_insert_with(|| SubjectBalance {
                        subject_code: c.to_string(),
                        name: chart
                            .by_code(c)
                            .map_or_else(String::new, |s| s.name.clone()),
                        level: c.split('.').count(),
                        currency: row.currency,
                        opening: 0,
                        debits: 0,
                        credits: 0,
                        closing: 0,
                    });
            entry.opening += row.opening;
            entry.debits += row.debits;
            entry.credits += row.credits;
            entry.closing += row.closing;
            code = Subject::parent_code(c);
        }
    }
    out.into_values().collect()
}

/// A debit-side balance split into the (debit, credit) columns of a report.
fn sides(balance: i128) -> (u128, u128) {
    if balance >= 0 {
        (balance.unsigned_abs(), 0)
    } else {
        (0, balance.unsigned_abs())
    }
}

const CSV_HEADER: &str = "subject_code,name,currency,opening_debit,opening_credit,debits,credits,closing_debit,closing_credit\n";

/// The CSV of a report's rows, exactly as the report files have it.
pub fn subject_balances_csv(rows: &[SubjectBalance]) -> String {
    let mut out = String::from(CSV_HEADER);
    for r in rows {
        let (od, oc) = sides(r.opening);
        let (cd, cc) = sides(r.closing);
        let name = r.name.replace('"', "\"\"");
        let _ = writeln!(
            out,
            "{},\"{name}\",{},{od},{oc},{},{},{cd},{cc}",
            r.subject_code, r.currency, r.debits, r.credits
        );
    }
    out
}

fn json_rows(rows: &[SubjectBalance]) -> String {
    let mut out = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        let (od, oc) = sides(r.opening);
        let (cd, cc) = sides(r.closing);
        let name = r.name.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = write!(
            out,
            "{}{{\"subject_code\":\"{}\",\"name\":\"{name}\",\"level\":{},\"currency\":\"{}\",\"opening_debit\":{od},\"opening_credit\":{oc},\"debits\":{},\"credits\":{},\"closing_debit\":{cd},\"closing_credit\":{cc}}}",
            if i == 0 { "" } else { "," },
            r.subject_code,
            r.level,
            r.currency,
            r.debits,
            r.credits
        );
    }
    out.push(']');
    out
}

fn totals_json(trial: &[TrialBalance]) -> String {
    let mut out = String::from("[");
    for (i, t) in trial.iter().enumerate() {
        let _ = write!(
            out,
            "{}{{\"currency\":\"{}\",\"debits\":{},\"credits\":{},\"opening_sum\":{},\"closing_sum\":{},\"balanced\":{}}}",
            if i == 0 { "" } else { "," },
            t.currency,
            t.debits,
            t.credits,
            t.opening_sum,
            t.closing_sum,
            t.balanced()
        );
    }
    out.push(']');
    out
}

pub fn report_dir(data_dir: &Path, date: AccountingDate) -> PathBuf {
    data_dir.join("reports").join(date.to_string())
}

/// Writes the four report files of `date`; returns their paths.
pub fn write_reports(
    data_dir: &Path,
    date: AccountingDate,
    chart: &Chart,
    gl: &[GlRow],
    trial: &[TrialBalance],
) -> Result<Vec<PathBuf>, AccountingError> {
    let dir = report_dir(data_dir, date);
    std::fs::create_dir_all(&dir)
        .map_err(|e| AccountingError::Io(format!("cannot create {}: {e}", dir.display())))?;
    let all = subject_balances(chart, gl);
    let top: Vec<SubjectBalance> = all.iter().filter(|r| r.level == 1).cloned().collect();
    let files = [
        ("trial-balance.csv", subject_balances_csv(&top)),
        (
            "trial-balance.json",
            format!(
                "{{\"accounting_date\":\"{date}\",\"subjects\":{},\"totals\":{}}}\n",
                json_rows(&top),
                totals_json(trial)
            ),
        ),
        ("subject-balances.csv", subject_balances_csv(&all)),
        (
            "subject-balances.json",
            format!(
                "{{\"accounting_date\":\"{date}\",\"subjects\":{}}}\n",
                json_rows(&all)
            ),
        ),
    ];
    let mut paths = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        let temporary = dir.join(format!(".{name}.partial"));
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| AccountingError::Io(format!("cannot write {}: {e}", path.display())))?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::Category;

    #[test]
    fn a_parent_subject_sums_its_children() {
        let subject = |id, code: &str| Subject {
            id,
            code: code.into(),
            name: code.into(),
            category: Category::Liability,
            gl_only: false,
        };
        let chart = Chart::new(vec![
            subject(1, "2241"),
            subject(2, "2241.01"),
            subject(3, "2241.02"),
        ]);
        let row = |code: &str, closing: i128| GlRow {
            subject_code: code.into(),
            currency: Currency::CNY,
            opening: 0,
            debits: 0,
            credits: closing as u128,
            closing: -closing,
        };
        let rows = subject_balances(&chart, &[row("2241.01", 70), row("2241.02", 30)]);
        assert_eq!(rows[0].subject_code, "2241");
        assert_eq!(rows[0].closing, -100);
        assert_eq!(rows[0].credits, 100);
        assert_eq!(rows.len(), 3);
        assert!(subject_balances_csv(&rows).contains("2241,\"2241\",CNY,0,0,0,100,0,100"));
    }
}
