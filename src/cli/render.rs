//! `fleetnode render`: the generator's output, printed or written to a directory.

use std::fs;
use std::path::Path;

use fleetnode::render::Content;
use fleetnode::{files_for, load_with, output, Outcome};

use super::{FAILED, OK, USAGE};

/// Where the generator writes at boot; used in printed output so it reads as it will be.
const GENERATOR_DIR: &str = "/run/systemd/generator";

pub fn run(root: &Path, config: Option<&Path>, out: Option<&Path>) -> u8 {
    let outcome = load_with(root, config);
    let dir = match out {
        Some(d) if !d.is_absolute() => match std::env::current_dir() {
            Ok(cwd) => cwd.join(d),
            Err(e) => {
                eprintln!("error: cannot resolve {}: {e}", d.display());
                return USAGE;
            }
        },
        Some(d) => d.to_path_buf(),
        None => GENERATOR_DIR.into(),
    };
    let dir_str = dir.to_string_lossy().into_owned();
    if dir_str.chars().any(char::is_control) {
        eprintln!("error: the output directory name contains a control character");
        return USAGE;
    }
    let files = files_for(&outcome, &dir_str);
    if let Outcome::Invalid(diags) = &outcome {
        for d in diags {
            eprintln!("{d}");
        }
        eprintln!("invalid configuration: the generator writes only fleetnode-config.service");
    }
    if let Outcome::Unconfigured = outcome {
        eprintln!("not configured: the generator writes nothing");
    }
    if out.is_some() {
        if let Ok(mut entries) = fs::read_dir(&dir) {
            if entries.next().is_some() {
                eprintln!(
                    "error: {} is not empty; render into a new or empty directory",
                    dir.display()
                );
                return USAGE;
            }
        }
        if let Err(e) = fs::create_dir_all(&dir).and_then(|_| output::write_files(&dir, &files)) {
            eprintln!("error: {e}");
            return FAILED;
        }
        eprintln!("wrote {} files to {}", files.len(), dir.display());
    } else {
        for f in &files {
            match &f.content {
                Content::File { text, mode } => println!(
                    "==> {GENERATOR_DIR}/{} (mode {mode:04o}) <==\n{text}",
                    f.path
                ),
                Content::Symlink { target } => {
                    println!("==> {GENERATOR_DIR}/{} -> {target} <==\n", f.path)
                }
            }
        }
    }
    match outcome {
        Outcome::Invalid(_) => FAILED,
        _ => OK,
    }
}
