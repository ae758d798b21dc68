//! Golden tests: each `tests/golden/NN-name/` holds an input tree (`etc/fleetnode.toml`,
//! `etc/fleetnode.d/`, `etc/hostname`) and the expected output of the generator:
//! `expected/` (file contents), `expected.list` (every path with its mode, symlinks with their
//! target) and `expected.log` (what the generator logged). The output directory's path is
//! replaced by /run/systemd/generator before comparing. `UPDATE_GOLDEN=1` rewrites the
//! expectations (review the diff before committing).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const REAL_DIR: &str = "/run/systemd/generator";

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden")
}

/// (relative path, "mode" or "-> target", content) for every file below `dir`.
fn snapshot(dir: &Path, out: &str) -> Vec<(String, String, Option<String>)> {
    let mut entries = Vec::new();
    walk(dir, dir, &mut entries);
    entries.sort();
    entries
        .into_iter()
        .map(|p| {
            let full = dir.join(&p);
            let meta = fs::symlink_metadata(&full).unwrap();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&full)
                    .unwrap()
                    .to_string_lossy()
                    .replace(out, REAL_DIR);
                (p, format!("-> {target}"), None)
            } else {
                let content = fs::read_to_string(&full).unwrap().replace(out, REAL_DIR);
                (
                    p,
                    format!("{:04o}", meta.permissions().mode() & 0o7777),
                    Some(content),
                )
            }
        })
        .collect()
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            walk(base, &p, out);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

fn list_text(snap: &[(String, String, Option<String>)]) -> String {
    snap.iter()
        .map(|(p, m, _)| {
            if m.starts_with("->") {
                format!("{p} {m}\n")
            } else {
                format!("{m} {p}\n")
            }
        })
        .collect()
}

fn unified_diff(name: &str, expected: &str, actual: &str) -> String {
    let tmp = std::env::temp_dir().join(format!("fleetnode-golden-diff-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap();
    let (a, b) = (tmp.join("expected"), tmp.join("actual"));
    fs::write(&a, expected).unwrap();
    fs::write(&b, actual).unwrap();
    let out = Command::new("diff")
        .args([
            "-u",
            "--label",
            &format!("expected/{name}"),
            "--label",
            &format!("actual/{name}"),
        ])
        .arg(&a)
        .arg(&b)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|_| format!("--- expected\n{expected}\n+++ actual\n{actual}"));
    let _ = fs::remove_dir_all(&tmp);
    out
}

fn normalize_log(log: &str, out: &str) -> String {
    log.lines()
        .map(|l| {
            let l = l.replace(out, REAL_DIR);
            match (l.find('['), l.find("]: ")) {
                (Some(a), Some(b)) if a < b => format!("{}[PID]{}\n", &l[..a], &l[b + 1..]),
                _ => format!("{l}\n"),
            }
        })
        .collect()
}

fn run_case(case: &Path) -> Result<(), String> {
    let out_base = std::env::temp_dir().join(format!(
        "fleetnode-golden-{}-{}",
        case.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&out_base);
    let normal = out_base.join("normal");
    for d in ["normal", "early", "late"] {
        fs::create_dir_all(out_base.join(d)).unwrap();
    }
    let result = Command::new(env!("CARGO_BIN_EXE_fleetnode-generator"))
        .arg(&normal)
        .arg(out_base.join("early"))
        .arg(out_base.join("late"))
        .env("FLEETNODE_ROOT", case)
        .env("SYSTEMD_LOG_TARGET", "console")
        .output()
        .unwrap();
    let out_str = normal.to_string_lossy().into_owned();
    let mut problems = Vec::new();
    if !result.status.success() {
        problems.push(format!("generator exited with {}", result.status));
    }
    for d in ["early", "late"] {
        if fs::read_dir(out_base.join(d)).unwrap().next().is_some() {
            problems.push(format!("wrote into the {d} directory"));
        }
    }
    let snap = snapshot(&normal, &out_str);
    let log = normalize_log(&String::from_utf8_lossy(&result.stderr), &out_str);
    let list = list_text(&snap);

    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let exp = case.join("expected");
        let _ = fs::remove_dir_all(&exp);
        for (p, _, content) in &snap {
            if let Some(c) = content {
                let f = exp.join(p);
                fs::create_dir_all(f.parent().unwrap()).unwrap();
                fs::write(f, c).unwrap();
            }
        }
        fs::write(case.join("expected.list"), &list).unwrap();
        fs::write(case.join("expected.log"), &log).unwrap();
    } else {
        let read = |p: PathBuf| fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
        let exp_list = read(case.join("expected.list"))?;
        if exp_list != list {
            problems.push(unified_diff("(file list)", &exp_list, &list));
        }
        let exp_log = read(case.join("expected.log"))?;
        if exp_log != log {
            problems.push(unified_diff("(generator log)", &exp_log, &log));
        }
        for (p, _, content) in &snap {
            if let Some(c) = content {
                let exp = fs::read_to_string(case.join("expected").join(p)).unwrap_or_default();
                if &exp != c {
                    problems.push(unified_diff(p, &exp, c));
                }
            }
        }
    }
    let _ = fs::remove_dir_all(&out_base);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn golden_cases() {
    let mut cases: Vec<PathBuf> = fs::read_dir(golden_root())
        .expect("tests/golden exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 15,
        "expected at least 15 golden cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = run_case(case) {
            failures.push(format!(
                "### {}\n{e}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
