//! `fleetnode render --output DIR` writes byte-for-byte what the generator writes into DIR,
//! modes and symlinks included, for every golden case; `fleetnode check` agrees with the
//! generator on valid (exit 0) and invalid (exit 1) configurations.

mod common;
use common::cli;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<(String, String)>) {
        let Ok(rd) = fs::read_dir(d) else { return };
        for e in rd.map(Result::unwrap) {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                out.push((rel, format!("-> {}", fs::read_link(&p).unwrap().display())));
            } else if m.is_dir() {
                walk(base, &p, out);
            } else {
                let bytes = fs::read(&p).unwrap();
                out.push((
                    rel,
                    format!(
                        "{:o} {}",
                        m.permissions().mode() & 0o7777,
                        String::from_utf8_lossy(&bytes)
                    ),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn render_matches_the_generator_byte_for_byte() {
    let cli = cli();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let work =
        std::env::temp_dir().join(format!("fleetnode-render-identical-{}", std::process::id()));
    for case in cases {
        let _ = fs::remove_dir_all(&work);
        let out = work.join("out");
        fs::create_dir_all(&out).unwrap();
        let gen = Command::new(env!("CARGO_BIN_EXE_fleetnode-generator"))
            .arg(&out)
            .env("FLEETNODE_ROOT", &case)
            .env("SYSTEMD_LOG_TARGET", "console")
            .output()
            .unwrap();
        assert!(gen.status.success());
        let from_generator = tree(&out);
        fs::remove_dir_all(&out).unwrap();
        let render = Command::new(&cli)
            .arg("render")
            .arg("--root")
            .arg(&case)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        let from_render = tree(&out);
        assert_eq!(from_generator, from_render, "{}", case.display());

        let invalid = from_generator
            .iter()
            .any(|(p, _)| p == "fleetnode-config.service");
        assert_eq!(
            render.status.code(),
            Some(if invalid { 1 } else { 0 }),
            "render exit status for {}",
            case.display()
        );
        let check = Command::new(&cli)
            .arg("check")
            .arg("--root")
            .arg(&case)
            .output()
            .unwrap();
        assert_eq!(
            check.status.code(),
            Some(if invalid { 1 } else { 0 }),
            "check exit status for {}",
            case.display()
        );
        if invalid {
            // Every diagnostic the generator logged is shown by check, with its position.
            let log = String::from_utf8_lossy(&gen.stderr);
            let shown = String::from_utf8_lossy(&check.stderr);
            for line in log.lines().filter(|l| l.contains(": error: ")) {
                let diag = line.split_once("]: ").unwrap().1;
                let (pos, _) = diag.split_once(": error: ").unwrap();
                assert!(
                    shown.contains(&format!("--> {pos}")),
                    "check does not show {pos}:\n{shown}"
                );
            }
        }
    }
    let _ = fs::remove_dir_all(&work);
}
