//! ARCHITECTURE.md stays a true map: every file it cites exists where it says, and every
//! code name it cites (`Type::method`, `function`) is in the code. A renamed or deleted file
//! or function fails this test until the map is brought up to date.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir` (recursively) whose name ends with `suffix`.
fn files(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                files(&path, suffix, out);
            }
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
}

/// The backticked spans of a line.
fn spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

const FILE_SUFFIXES: [&str; 4] = [".rs", ".md", ".html", ".sh"];

fn is_file_citation(token: &str) -> bool {
    !token.contains(' ')
        && !token.contains('<')
        && !token.contains('*')
        && (FILE_SUFFIXES.iter().any(|s| token.ends_with(s))
            || token.starts_with("crates/")
            || token.starts_with("scripts/"))
}

/// `Name::name`, `Name::name()` or `name()`: a code name.
fn code_names(token: &str) -> Option<Vec<String>> {
    let token = token.trim_end_matches("()");
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.chars().next().is_some_and(|c| c.is_ascii_digit())
    };
    let parts: Vec<&str> = token.split("::").collect();
    (parts.len() >= 2 && parts.iter().all(|p| ident(p)))
        .then(|| parts.iter().map(|p| p.to_string()).collect())
}

#[test]
fn every_file_and_code_name_the_architecture_map_cites_exists() {
    let root = root();
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md"))
        .unwrap_or_else(|e| panic!("cannot read ARCHITECTURE.md: {e}"));
    let mut sources = Vec::new();
    files(&root.join("crates"), ".rs", &mut sources);
    let code: String = sources
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let mut crate_dir: Option<PathBuf> = None;
    let mut missing = Vec::new();
    let mut checked = 0;
    for line in map.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            // A crate's section: its bare file names are that crate's files.
            crate_dir = spans(heading)
                .first()
                .filter(|t| t.starts_with("crates/"))
                .map(|t| root.join(t));
        }
        for token in spans(line) {
            if is_file_citation(token) {
                checked += 1;
                let token = token.trim_end_matches('/');
                let found = root.join(token).exists()
                    || crate_dir.as_ref().is_some_and(|dir| {
                        let mut in_crate = Vec::new();
                        files(dir, &format!("/{token}"), &mut in_crate);
                        !in_crate.is_empty() || dir.join(token).exists()
                    })
                    || {
                        let mut anywhere = Vec::new();
                        files(&root.join("crates"), &format!("/{token}"), &mut anywhere);
                        !anywhere.is_empty()
                    };
                if !found {
                    missing.push(format!("file {token}"));
                }
            } else if let Some(names) = code_names(token) {
                checked += 1;
                for name in names {
                    if !code.contains(&name) {
                        missing.push(format!("code name {name} (in `{token}`)"));
                    }
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} citations found: is the parser still right?"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md cites what does not exist:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn a_missing_file_or_name_is_found() {
    assert!(is_file_citation("crates/ledger/src/nowhere.rs"));
    assert!(is_file_citation("ledger.rs"));
    assert!(!is_file_citation("reports/<date>/trial-balance.csv"));
    assert_eq!(
        code_names("Ledger::apply"),
        Some(vec!["Ledger".to_string(), "apply".to_string()])
    );
    assert_eq!(code_names("SHA-256(x)"), None);
}
