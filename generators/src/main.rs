//! fleetnode-generator NORMAL [EARLY LATE]
//!
//! Reads /etc/fleetnode.toml and /etc/fleetnode.d/*.toml and writes etcd and fleet units into
//! NORMAL. Always exits 0 when run by systemd: a broken configuration must not break boot; it
//! becomes a failing fleetnode-config.service instead. FLEETNODE_ROOT points it at a fixture
//! tree (tests).

mod kmsg;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fleetnode::diag::Diagnostic;
use fleetnode::render::render_invalid;
use fleetnode::{files_for, load, output, Outcome};
use kmsg::{Level, Log};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out_dir) = parse_args(&args) else {
        eprintln!("usage: fleetnode-generator NORMAL_DIR [EARLY_DIR LATE_DIR]\n(run by systemd at boot and on daemon-reload; see `fleetnode render` to preview)");
        return ExitCode::from(2);
    };
    let root = std::env::var_os("FLEETNODE_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let mut log = Log::open();
    // A panic is a bug; it must still leave a visible trace rather than no units at all.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&root, &out_dir, &mut Log::open())
    }));
    if result.is_err() {
        let d = Diagnostic::new("", "", "internal error in fleetnode-generator (a bug: please report it with the configuration)");
        log.log(Level::Error, &d.one_line());
        let _ = output::write_files(&out_dir, &render_invalid(&[d], &out_dir.to_string_lossy()));
    }
    ExitCode::SUCCESS
}

fn parse_args(args: &[String]) -> Option<PathBuf> {
    match args {
        [normal] | [normal, _, _]
            if Path::new(normal).is_absolute() && !normal.chars().any(char::is_control) =>
        {
            Some(PathBuf::from(normal))
        }
        _ => None,
    }
}

fn run(root: &Path, out_dir: &Path, log: &mut Log) {
    let outcome = load(root);
    let dir = out_dir.to_string_lossy();
    let files = files_for(&outcome, &dir);
    match &outcome {
        Outcome::Unconfigured => {
            log.log(Level::Info, "no settings in /etc/fleetnode.toml or /etc/fleetnode.d/*.toml: nothing to generate");
            return;
        }
        Outcome::Valid { config, warnings } => {
            for w in warnings {
                log.log(Level::Warning, &w.one_line());
            }
            let role = if config.runs_etcd() {
                "etcd member"
            } else {
                "etcd client"
            };
            log.log(
                Level::Info,
                &format!("{} as {role}: writing {} files", config.name, files.len()),
            );
        }
        Outcome::Invalid(diags) => {
            for d in diags {
                let level = if d.is_error() {
                    Level::Error
                } else {
                    Level::Warning
                };
                log.log(level, &d.one_line());
            }
            log.log(Level::Error, "invalid configuration: no etcd or fleet units generated; see `systemctl status fleetnode-config`");
        }
    }
    if let Err(e) = output::write_files(out_dir, &files) {
        log.log(Level::Error, &format!("cannot write the units: {e}"));
        let d = Diagnostic::new(
            "",
            "",
            format!("fleetnode-generator could not write its units: {e}"),
        );
        if let Err(e2) = output::write_files(out_dir, &render_invalid(&[d], &dir)) {
            log.log(
                Level::Error,
                &format!("cannot write fleetnode-config.service either: {e2}"),
            );
        }
    }
}
