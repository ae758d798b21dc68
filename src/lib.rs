//! fleetnode: turns /etc/fleetnode.toml into systemd units for etcd and fleet.
//!
//! `source` finds, reads and merges the files; `config` validates them into a `Config`;
//! `render` turns a `Config` into files (pure); `output` writes them atomically. The generator
//! and the CLI are thin shells around `generate`.

// Diagnostics travel in Err on cold paths only; boxing them would buy nothing.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod diag;
pub mod escape;
pub mod net;
pub mod output;
pub mod render;
pub mod source;

use std::path::Path;

use diag::Diagnostic;
use render::OutFile;

/// The outcome of reading and validating the configuration.
pub enum Outcome {
    /// No configuration at all (the shipped, fully commented file): nothing to generate.
    Unconfigured,
    /// A valid configuration: the files to write, plus any warnings.
    Valid {
        config: Box<config::Config>,
        warnings: Vec<Diagnostic>,
    },
    /// Errors (and warnings), in file order.
    Invalid(Vec<Diagnostic>),
}

/// Reads /etc/fleetnode.toml and /etc/fleetnode.d/*.toml below `root` and validates them.
pub fn load(root: &Path) -> Outcome {
    load_with(root, None)
}

/// As `load`, with `main` (if given) read instead of /etc/fleetnode.toml.
pub fn load_with(root: &Path, main: Option<&Path>) -> Outcome {
    let sources = match source::read_sources(root, main) {
        Ok(s) => s,
        Err(d) => return Outcome::Invalid(d),
    };
    let tree = match source::parse_and_merge(&sources) {
        Ok(t) => t,
        Err(d) => return Outcome::Invalid(d),
    };
    if tree.is_empty() {
        return Outcome::Unconfigured;
    }
    // Read the host name only when it is needed (no node.name): it is one more file at boot.
    let has_name = matches!(tree.get("node").map(|n| &n.val), Some(source::Val::Table(t)) if t.contains_key("name"));
    let hostname = if has_name {
        None
    } else {
        static_hostname(root)
    };
    let v = config::validate(&tree, &sources, hostname.as_deref());
    match v.config {
        Some(c) => Outcome::Valid {
            config: Box::new(c),
            warnings: v.diagnostics,
        },
        None => Outcome::Invalid(v.diagnostics),
    }
}

/// The files to write into `out_dir` for this outcome (empty when unconfigured).
pub fn files_for(outcome: &Outcome, out_dir: &str) -> Vec<OutFile> {
    match outcome {
        Outcome::Unconfigured => Vec::new(),
        Outcome::Valid { config, .. } => render::render(config, out_dir),
        Outcome::Invalid(d) => render::render_invalid(d, out_dir),
    }
}

/// The static host name (/etc/hostname), else the kernel's, without the domain.
pub fn static_hostname(root: &Path) -> Option<String> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let from_file = read(&root.join("etc/hostname")).and_then(|s| {
        s.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
    });
    let name = match from_file {
        Some(n) => n,
        // The kernel's name only counts for the real root, not for a fixture tree.
        None if root == Path::new("/") => read(Path::new("/proc/sys/kernel/hostname"))?
            .trim()
            .to_string(),
        None => return None,
    };
    (!name.is_empty()).then_some(name)
}
