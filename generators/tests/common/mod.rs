//! Shared by the generator's integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `fleetnode` CLI next to the generator binary. It lives in another package of the
/// workspace, so it is built here if this test runs alone.
pub fn cli() -> PathBuf {
    let gen = Path::new(env!("CARGO_BIN_EXE_fleetnode-generator"));
    let cli = gen.with_file_name("fleetnode");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "fleetnode", "--bin", "fleetnode"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo runs");
    assert!(
        status.success() && cli.exists(),
        "cannot build {}",
        cli.display()
    );
    cli
}
