//! `fleetnode apply`: check, daemon-reload (which reruns the generator), and restart only the
//! units whose generated files changed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use fleetnode::config::Config;
use fleetnode::render::{Content, OutFile};
use fleetnode::{files_for, load, Outcome};

use super::etcd::wal_exists;
use super::systemd::Systemd;
use super::{FAILED, OK};

pub const GENERATOR_DIR: &str = "/run/systemd/generator";

/// path -> content (files) or "-> target" (symlinks).
pub type Tree = BTreeMap<String, String>;

/// The order units are acted on: etcd before fleet, the socket before its service.
const ORDER: &[&str] = &[
    "fleetnode-config.service",
    "etcd.service",
    "fleet.socket",
    "fleet.service",
    "docker.service",
    "fleetnode-health.timer",
];

pub fn run(root: &Path, dry_run: bool) -> u8 {
    let gen_dir =
        std::env::var("FLEETNODE_GENERATOR_DIR").unwrap_or_else(|_| GENERATOR_DIR.to_string());
    let outcome = load(root);
    if let Outcome::Invalid(diags) = &outcome {
        for d in diags {
            eprintln!("{d}");
        }
        eprintln!("not applied: the configuration is invalid (nothing was changed)");
        return FAILED;
    }
    let before = read_tree(Path::new(&gen_dir));
    let after = tree_of(&files_for(&outcome, &gen_dir));
    let changed = changed_paths(&before, &after);
    if changed.is_empty() {
        println!("no changes: the generated units are up to date");
        return OK;
    }
    for (p, what) in &changed {
        println!("{what:<8} {gen_dir}/{p}");
    }
    let units = affected_units(&changed);
    let cfg = match &outcome {
        Outcome::Valid { config, .. } => Some(config.as_ref()),
        _ => None,
    };
    let touches_bootstrap = changed
        .keys()
        .any(|p| is_bootstrap_path(p, &before, &after));
    if dry_run {
        println!(
            "dry run: would reload systemd and act on: {}",
            units.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        return OK;
    }

    let sd = match Systemd::connect() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return FAILED;
        }
    };
    if let Err(e) = sd.reload() {
        eprintln!("error: {e}");
        return FAILED;
    }
    println!("reloaded systemd (the generator ran again)");
    let now = read_tree(Path::new(&gen_dir));
    if now != after {
        eprintln!("warning: {gen_dir} differs from what this fleetnode renders: is the installed fleetnode-generator a different version?");
    }

    let mut status = OK;
    for unit in ORDER.iter().filter(|u| units.contains(**u)) {
        let wanted = after.keys().any(|p| p.ends_with(&format!(".wants/{unit}")));
        let exists =
            after.contains_key(*unit) || after.keys().any(|p| p.starts_with(&format!("{unit}.d/")));
        let state = sd.state(unit).ok();
        let active = state
            .as_ref()
            .is_some_and(|s| s.active == "active" || s.active == "activating");
        let result = if *unit == "fleetnode-config.service" {
            if wanted {
                // Still (or newly) invalid is excluded above; this is the error unit appearing.
                sd.start(unit).map(|_| "started")
            } else {
                let _ = sd.stop(unit);
                sd.reset_failed(unit)
                    .map(|_| "cleared (the configuration is valid now)")
            }
        } else if !wanted && !exists {
            if active {
                sd.stop(unit).map(|_| "stopped (no longer configured)")
            } else {
                Ok("not configured")
            }
        } else if *unit == "etcd.service" && active && touches_bootstrap && data_dir_in_use(cfg) {
            status = FAILED;
            eprintln!(
                "refused to restart etcd.service: the change touches cluster bootstrap settings (initial cluster, discovery, name), \
but {} already holds this member's data, and etcd ignores those settings once it has data. \
To change membership use `etcdctl member add/remove`; to re-bootstrap this member, stop etcd and move the data dir away first.",
                cfg.map_or("the data dir", |c| c.data_dir.as_str())
            );
            continue;
        } else if active {
            sd.restart(unit).map(|_| "restarted")
        } else if wanted || *unit == "fleetnode-health.timer" {
            // A unit that gave up (start limit hit, e.g. etcd with a full discovery token)
            // refuses to start until its failure is cleared.
            if state.as_ref().is_some_and(|s| s.active == "failed") {
                let _ = sd.reset_failed(unit);
            }
            sd.start(unit).map(|_| "started")
        } else {
            Ok("changed (not running, not started)")
        };
        match result {
            Ok(what) => println!("{unit}: {what}"),
            Err(e) => {
                eprintln!("error: {e}");
                status = FAILED;
            }
        }
    }
    // Report where the units ended up (etcd may take a while to find its quorum).
    for unit in ORDER
        .iter()
        .filter(|u| units.contains(**u) && **u != "fleetnode-config.service")
    {
        if let Some(s) = wait_settled(&sd, unit, Duration::from_secs(90)) {
            println!("{unit}: {}/{}", s.0, s.1);
            if s.0 == "failed" {
                status = FAILED;
            }
        }
    }
    status
}

fn wait_settled(sd: &Systemd, unit: &str, limit: Duration) -> Option<(String, String)> {
    let start = Instant::now();
    loop {
        let s = sd.state(unit).ok()?;
        // A start job may wait for its ordering dependencies while the unit is still inactive.
        let settled = !s.job
            && !matches!(
                s.active.as_str(),
                "activating" | "deactivating" | "reloading"
            );
        if settled || start.elapsed() > limit {
            return Some((s.active, s.sub));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether etcd has data already (so bootstrap settings no longer apply).
fn data_dir_in_use(cfg: Option<&Config>) -> bool {
    cfg.is_some_and(|c| wal_exists(Path::new(&c.data_dir)))
}

pub fn tree_of(files: &[OutFile]) -> Tree {
    files
        .iter()
        .map(|f| {
            let v = match &f.content {
                Content::File { text, mode } => format!("{mode:o}\n{text}"),
                Content::Symlink { target } => format!("-> {target}"),
            };
            (f.path.clone(), v)
        })
        .collect()
}

/// The files of the generator directory that fleetnode writes.
pub fn read_tree(dir: &Path) -> Tree {
    use std::os::unix::fs::PermissionsExt;
    let mut t = Tree::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p);
            } else if !is_ours(&rel) {
                continue;
            } else if m.file_type().is_symlink() {
                if let Ok(target) = fs::read_link(&p) {
                    t.insert(rel, format!("-> {}", target.display()));
                }
            } else if let Ok(text) = fs::read_to_string(&p) {
                t.insert(
                    rel,
                    format!("{:o}\n{text}", m.permissions().mode() & 0o7777),
                );
            }
        }
    }
    t
}

/// Paths fleetnode-generator may write (other generators share the directory).
pub fn is_ours(rel: &str) -> bool {
    let unit = unit_of(rel);
    unit.is_some()
}

/// The unit a generated path configures.
pub fn unit_of(rel: &str) -> Option<&'static str> {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let base = rel.split('/').next().unwrap_or(rel);
    if base.ends_with(".wants") {
        return ORDER.iter().find(|u| **u == name).copied();
    }
    match base {
        "fleetnode-etcd.env" => Some("etcd.service"),
        "fleetnode-proxy.env" => Some("etcd.service"),
        "fleetnode-config.errors" => Some("fleetnode-config.service"),
        _ => {
            let unit = base.strip_suffix(".d").unwrap_or(base);
            ORDER.iter().find(|u| **u == unit).copied()
        }
    }
}

/// path -> "added" | "removed" | "changed".
pub fn changed_paths(before: &Tree, after: &Tree) -> BTreeMap<String, &'static str> {
    let mut out = BTreeMap::new();
    for (p, v) in after {
        match before.get(p) {
            None => {
                out.insert(p.clone(), "added");
            }
            Some(b) if b != v => {
                out.insert(p.clone(), "changed");
            }
            _ => {}
        }
    }
    for p in before.keys().filter(|p| !after.contains_key(*p)) {
        out.insert(p.clone(), "removed");
    }
    out
}

pub fn affected_units(changed: &BTreeMap<String, &'static str>) -> BTreeSet<String> {
    let mut units = BTreeSet::new();
    for p in changed.keys() {
        if let Some(u) = unit_of(p) {
            units.insert(u.to_string());
        }
        if p == "fleetnode-proxy.env" {
            units.insert("docker.service".to_string());
        }
    }
    units
}

/// Cluster bootstrap settings: the cluster drop-in, the discovery secrets, or etcd's name.
fn is_bootstrap_path(p: &str, before: &Tree, after: &Tree) -> bool {
    match p {
        "etcd.service.d/10-cluster.conf" | "fleetnode-etcd.env" => true,
        "etcd.service" => {
            let name = |t: &Tree| {
                t.get(p).and_then(|s| {
                    s.lines()
                        .find(|l| l.contains("ETCD_NAME="))
                        .map(str::to_string)
                })
            };
            name(before) != name(after)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(entries: &[(&str, &str)]) -> Tree {
        entries
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn only_changed_units_are_touched() {
        let before = t(&[
            ("etcd.service", "a"),
            ("fleet.service.d/20-metadata.conf", "az=a"),
            ("fleet.service", "f"),
            (
                "multi-user.target.wants/fleet.service",
                "-> ../fleet.service",
            ),
        ]);
        let after = t(&[
            ("etcd.service", "a"),
            ("fleet.service.d/20-metadata.conf", "az=b"),
            ("fleet.service", "f"),
            (
                "multi-user.target.wants/fleet.service",
                "-> ../fleet.service",
            ),
        ]);
        let ch = changed_paths(&before, &after);
        assert_eq!(ch.len(), 1);
        assert_eq!(affected_units(&ch), ["fleet.service".to_string()].into());
    }

    #[test]
    fn proxy_changes_restart_etcd_and_docker() {
        let ch = changed_paths(
            &t(&[("fleetnode-proxy.env", "1")]),
            &t(&[("fleetnode-proxy.env", "2")]),
        );
        assert_eq!(
            affected_units(&ch),
            ["docker.service".to_string(), "etcd.service".to_string()].into()
        );
    }

    #[test]
    fn bootstrap_paths() {
        let a = t(&[("etcd.service", "Environment=\"ETCD_NAME=a\"\nLimitNOFILE=1")]);
        let b = t(&[("etcd.service", "Environment=\"ETCD_NAME=a\"\nLimitNOFILE=2")]);
        let c = t(&[("etcd.service", "Environment=\"ETCD_NAME=c\"\nLimitNOFILE=1")]);
        assert!(!is_bootstrap_path("etcd.service", &a, &b));
        assert!(is_bootstrap_path("etcd.service", &a, &c));
        assert!(is_bootstrap_path("etcd.service.d/10-cluster.conf", &a, &a));
        assert!(!is_bootstrap_path("etcd.service.d/20-proxy.conf", &a, &a));
    }

    #[test]
    fn other_generators_files_are_ignored() {
        assert!(is_ours("etcd.service.d/10-cluster.conf"));
        assert!(is_ours("multi-user.target.wants/fleet.service"));
        assert!(!is_ours("multi-user.target.wants/zram.service"));
        assert!(!is_ours("dev-zram0.swap"));
        assert!(!is_ours("local-fs.target.requires/-.mount"));
    }
}
