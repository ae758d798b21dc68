//! fleetnode-generator NORMAL [EARLY LATE]
//!
//! Reads /etc/fleetnode.toml and /etc/fleetnode.d/*.toml and writes etcd and fleet units into
//! NORMAL. Always exits 0 when run by systemd: a broken configuration must not break boot; it
//! becomes a failing fleetnode-config.service instead. FLEETNODE_ROOT points it at a fixture
//! tree (tests).

// No std runtime start-up: it costs a sixth of a run (std reads /proc/self/maps with sscanf
// to place a stack guard). What it did that matters here is done in `start` instead.
#![no_main]

mod kmsg;

use std::ffi::{c_char, c_int, OsString};
use std::path::{Path, PathBuf};

use fleetnode::diag::Diagnostic;
use fleetnode::render::render_invalid;
use fleetnode::{files_for, load, output, Outcome};
use kmsg::{Level, Log};

extern "C" {
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
}

/// What std's runtime would have done: make sure fds 0-2 are open (so no file we create
/// lands on them) and ignore SIGPIPE (a closed stderr must not kill us).
fn start() {
    const F_GETFD: c_int = 1;
    const O_RDWR: c_int = 2;
    const SIGPIPE: c_int = 13;
    const SIG_IGN: usize = 1;
    // SAFETY: plain libc calls on integers and a static NUL-terminated path.
    unsafe {
        for fd in 0..3 {
            if fcntl(fd, F_GETFD) == -1 {
                open(c"/dev/null".as_ptr(), O_RDWR);
            }
        }
        signal(SIGPIPE, SIG_IGN);
    }
}

#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    start();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some(out_dir) = parse_args(&args) else {
        eprintln!("usage: fleetnode-generator NORMAL_DIR [EARLY_DIR LATE_DIR]\n(run by systemd at boot and on daemon-reload; see `fleetnode render` to preview)");
        return 2;
    };
    let root = std::env::var_os("FLEETNODE_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let mut log = Log::open();
    // A panic is a bug; it must still leave a visible trace rather than no units at all.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&root, &out_dir, &mut log)
    }));
    if result.is_err() {
        let d = Diagnostic::new("", "", "internal error in fleetnode-generator (a bug: please report it with the configuration)");
        log.log(Level::Error, &d.one_line());
        let _ = output::write_files(&out_dir, &render_invalid(&[d], &out_dir.to_string_lossy()));
    }
    0
}

fn parse_args(args: &[OsString]) -> Option<PathBuf> {
    let normal = match args {
        [normal] | [normal, _, _] => normal.to_str()?,
        _ => return None,
    };
    (Path::new(normal).is_absolute() && !normal.chars().any(char::is_control))
        .then(|| PathBuf::from(normal))
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
