//! The bad-config corpus (`tests/bad-configs/NNN-name/`): every case is a configuration the
//! validator must reject. Each one runs through
//! - the generator: exit 0, only `fleetnode-config.service`, `fleetnode-config.errors` and the
//!   `multi-user.target.wants/fleetnode-config.service` symlink written, nothing in the early
//!   and late directories, and the errors file's first line equal to `expected` (location and
//!   message exactly; the hint too when `expected` has a `hint:` line);
//! - `fleetnode check --root CASE`: exit 1, and the same location and message shown.
//!
//! Things git cannot hold (a 10 MB file, symlink loops, FIFOs, sockets, unreadable files,
//! non-UTF-8 file names) are created at run time from the case's `setup` file in a scratch
//! copy of the case. A case with a `known-failure` file documents an open bug: it is reported
//! but does not fail the test (and the test fails when it starts passing, so the marker is
//! removed with the fix). See tests/bad-configs/README.md.

mod common;
use common::cli;

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The generator must never block; neither may `fleetnode check`.
const TIMEOUT: Duration = Duration::from_secs(10);

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bad-configs")
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs `cmd` with a deadline; Err on a timeout (the child is killed).
fn run_with_timeout(cmd: &mut Command) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    // Drain the pipes in threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Ok(Output {
                    status,
                    stdout: t_out.join().unwrap(),
                    stderr: t_err.join().unwrap(),
                })
            }
            Ok(None) if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "still running after {TIMEOUT:?}: killed (it blocks)"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    }
}

/// Copies a case tree, symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A path from a setup line: relative to the scratch root, `\xNN` escapes for raw bytes.
fn setup_path(root: &Path, s: &str) -> PathBuf {
    let mut bytes = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(Ok(v)) = s.get(i + 2..i + 4).map(|h| u8::from_str_radix(h, 16)) {
                bytes.push(v);
                i += 4;
                continue;
            }
        }
        bytes.push(b[i]);
        i += 1;
    }
    root.join(PathBuf::from(OsString::from_vec(bytes)))
}

fn parent_dirs(p: &Path) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
}

/// Applies the `setup` directives. Ok(false): skip this case here (e.g. needs a non-root user).
fn apply_setup(case: &Path, root: &Path) -> Result<bool, String> {
    let Ok(text) = fs::read_to_string(case.join("setup")) else {
        return Ok(true);
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("setup: cannot understand {line:?}");
        match w.as_slice() {
            // A file of SIZE bytes of TOML comments (valid TOML, were it read).
            ["fill", p, size] => {
                let size: usize = size.parse().map_err(|_| bad())?;
                let p = setup_path(root, p);
                parent_dirs(&p);
                let mut f = fs::File::create(&p).unwrap();
                let line = format!("#{}\n", "x".repeat(62));
                let mut left = size;
                while left > 0 {
                    let n = left.min(line.len());
                    let chunk = if n == line.len() {
                        line.as_bytes()
                    } else {
                        &b"################################################################"[..n]
                    };
                    f.write_all(chunk).unwrap();
                    left -= n;
                }
            }
            // A sparse file: large by stat, no data blocks.
            ["sparse", p, size] => {
                let p = setup_path(root, p);
                parent_dirs(&p);
                let f = fs::File::create(&p).unwrap();
                f.set_len(size.parse().map_err(|_| bad())?).unwrap();
            }
            ["symlink", p, target] => {
                let p = setup_path(root, p);
                parent_dirs(&p);
                symlink(target, &p).map_err(|e| format!("symlink {line:?}: {e}"))?;
            }
            ["fifo", p] => {
                let p = setup_path(root, p);
                parent_dirs(&p);
                let ok = Command::new("mkfifo")
                    .arg(&p)
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    return Err(format!("mkfifo {} failed", p.display()));
                }
            }
            ["socket", p] => {
                let p = setup_path(root, p);
                parent_dirs(&p);
                // The listener is dropped at once: the socket file stays, nobody listens.
                std::os::unix::net::UnixListener::bind(&p)
                    .map_err(|e| format!("bind {}: {e}", p.display()))?;
            }
            ["touch", p] => {
                let p = setup_path(root, p);
                parent_dirs(&p);
                fs::write(&p, "").map_err(|e| format!("touch {}: {e}", p.display()))?;
            }
            // A name git holds badly (control characters): rename a file of the case.
            ["rename", from, to] => {
                let to = setup_path(root, to);
                fs::rename(setup_path(root, from), &to)
                    .map_err(|e| format!("rename to {}: {e}", to.display()))?;
            }
            // COUNT drop-ins, each a harmless comment.
            ["many", dir, count] => {
                let d = setup_path(root, dir);
                fs::create_dir_all(&d).unwrap();
                for i in 0..count.parse::<usize>().map_err(|_| bad())? {
                    fs::write(d.join(format!("{i:05}.toml")), "# one of many\n").unwrap();
                }
            }
            ["chmod", p, mode] => {
                use std::os::unix::fs::PermissionsExt;
                let m = u32::from_str_radix(mode, 8).map_err(|_| bad())?;
                fs::set_permissions(setup_path(root, p), fs::Permissions::from_mode(m))
                    .map_err(|e| format!("chmod: {e}"))?;
            }
            // Root reads files whatever their mode: such a case only means something for others.
            ["skip-if-root"] => {
                if is_root() {
                    return Ok(false);
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(true)
}

/// Every path below `dir`, symlinks marked with their target.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(d) else { return };
        for e in rd.map(Result::unwrap) {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                out.push(format!("{rel} -> {}", fs::read_link(&p).unwrap().display()));
            } else if m.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

struct Expected {
    /// `FILE[:LINE:COL]: error: [KEY: ]MESSAGE`
    line: String,
    hint: Option<String>,
}

impl Expected {
    fn read(case: &Path) -> Result<Expected, String> {
        let text = fs::read_to_string(case.join("expected"))
            .map_err(|e| format!("cannot read `expected`: {e}"))?;
        let mut lines = text.lines();
        let line = lines.next().unwrap_or("").to_string();
        if !line.contains(": error: ") {
            return Err(format!("`expected` has no `: error: ` in {line:?}"));
        }
        let hint = lines
            .find_map(|l| l.strip_prefix("hint: "))
            .map(str::to_string);
        Ok(Expected { line, hint })
    }

    /// The location (`FILE` or `FILE:LINE:COL`) and the rest (`[KEY: ]MESSAGE`).
    fn parts(&self) -> (&str, &str) {
        self.line.split_once(": error: ").unwrap()
    }

    /// Does the generator's first error line match?
    fn matches(&self, actual: &str) -> bool {
        match &self.hint {
            Some(h) => actual == format!("{} (hint: {h})", self.line),
            None => {
                actual == self.line
                    || (actual.starts_with(&format!("{} (hint: ", self.line))
                        && actual.ends_with(')'))
            }
        }
    }

    fn shown(&self) -> String {
        match &self.hint {
            Some(h) => format!("{} (hint: {h})", self.line),
            None => format!("{} [(hint: ...)]", self.line),
        }
    }
}

/// Control characters shown as escapes, so a report cannot garble the terminal.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\u{{{:04x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

const ONLY: [&str; 3] = [
    "fleetnode-config.errors",
    "fleetnode-config.service",
    "multi-user.target.wants/fleetnode-config.service -> ../fleetnode-config.service",
];

enum Verdict {
    Pass,
    Skip(String),
    Fail(Vec<String>),
}

fn run_case(case: &Path, cli: &Path, scratch: &Path) -> Verdict {
    let _ = fs::remove_dir_all(scratch);
    let root = scratch.join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    if case.join("etc").is_dir() {
        copy_tree(&case.join("etc"), &root.join("etc"));
    }
    match apply_setup(case, &root) {
        Ok(true) => {}
        Ok(false) => return Verdict::Skip("needs a non-root user".into()),
        Err(e) => return Verdict::Fail(vec![e]),
    }
    let exp = match Expected::read(case) {
        Ok(e) => e,
        Err(e) => return Verdict::Fail(vec![e]),
    };
    let mut problems = Vec::new();

    // The generator.
    let out = scratch.join("out");
    for d in ["normal", "early", "late"] {
        fs::create_dir_all(out.join(d)).unwrap();
    }
    let normal = out.join("normal");
    let gen = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_fleetnode-generator"))
            .arg(&normal)
            .arg(out.join("early"))
            .arg(out.join("late"))
            .env("FLEETNODE_ROOT", &root)
            .env("SYSTEMD_LOG_TARGET", "console"),
    );
    match gen {
        Err(e) => problems.push(format!("generator: {e}")),
        Ok(g) => {
            if !g.status.success() {
                problems.push(format!("generator exited with {}", g.status));
            }
            for d in ["early", "late"] {
                let l = listing(&out.join(d));
                if !l.is_empty() {
                    problems.push(format!("generator wrote into {d}: {l:?}"));
                }
            }
            let l = listing(&normal);
            if l != ONLY {
                problems.push(format!("generator wrote {l:?}\n    want only {ONLY:?}"));
            }
            let errors = fs::read(normal.join("fleetnode-config.errors")).unwrap_or_default();
            let errors = String::from_utf8_lossy(&errors);
            let first = errors.lines().next().unwrap_or("");
            if !exp.matches(first) {
                problems.push(format!(
                    "first error differs\n    expected: {}\n    actual:   {}",
                    exp.shown(),
                    visible(first)
                ));
            }
        }
    }

    // fleetnode check.
    let check = run_with_timeout(Command::new(cli).arg("check").arg("--root").arg(&root));
    match check {
        Err(e) => problems.push(format!("fleetnode check: {e}")),
        Ok(c) => {
            if c.status.code() != Some(1) {
                problems.push(format!("fleetnode check exited with {} (want 1)", c.status));
            }
            let shown = String::from_utf8_lossy(&c.stderr);
            let (loc, rest) = exp.parts();
            let want_loc = format!("  --> {loc}\n");
            let want_msg = format!("error: {rest}\n");
            if !shown.contains(&want_loc) || !shown.contains(&want_msg) {
                let head: String = shown
                    .lines()
                    .take(6)
                    .map(visible)
                    .collect::<Vec<_>>()
                    .join("\n      ");
                problems.push(format!(
                    "fleetnode check does not show the diagnostic\n    expected: {}{}\n    actual:   {head}",
                    want_msg.trim_end(),
                    want_loc.trim_end()
                ));
            }
        }
    }
    if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(problems)
    }
}

#[test]
fn bad_config_corpus() {
    let cli = cli();
    let mut cases: Vec<PathBuf> = fs::read_dir(corpus_root())
        .expect("tests/bad-configs exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    // FLEETNODE_BAD_CONFIGS=substring runs only the matching cases.
    if let Ok(filter) = std::env::var("FLEETNODE_BAD_CONFIGS") {
        cases.retain(|c| c.to_string_lossy().contains(&filter));
    }
    let scratch_base =
        std::env::temp_dir().join(format!("fleetnode-bad-configs-{}", std::process::id()));
    let (mut passed, mut skipped, mut known) = (0, Vec::new(), Vec::new());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let known_failure = fs::read_to_string(case.join("known-failure")).ok();
        match (
            run_case(case, &cli, &scratch_base.join(&name)),
            known_failure,
        ) {
            (Verdict::Pass, None) => passed += 1,
            (Verdict::Pass, Some(_)) => failures.push(format!(
                "### {name}\n  passes now: remove its known-failure file"
            )),
            (Verdict::Skip(why), _) => skipped.push(format!("{name} ({why})")),
            (Verdict::Fail(p), Some(why)) => {
                known.push(format!("{name}: {}\n    {}", why.trim(), p.join("\n    ")))
            }
            (Verdict::Fail(p), None) => failures.push(format!("### {name}\n  {}", p.join("\n  "))),
        }
    }
    let _ = fs::remove_dir_all(&scratch_base);
    eprintln!(
        "bad-config corpus: {} cases, {passed} passed, {} known failures, {} skipped, {} failed",
        cases.len(),
        known.len(),
        skipped.len(),
        failures.len()
    );
    for s in &skipped {
        eprintln!("  skipped: {s}");
    }
    for k in &known {
        eprintln!("  known failure: {k}");
    }
    assert!(
        std::env::var_os("FLEETNODE_BAD_CONFIGS").is_some() || cases.len() >= 100,
        "expected at least 100 bad-config cases, found {}",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} bad-config cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
