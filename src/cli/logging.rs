//! Diagnostics logging: to the journal (structured) when run by systemd, else to stderr.
//! Level from FLEETNODE_LOG (e.g. `debug`).

use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter =
        EnvFilter::try_from_env("FLEETNODE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let under_systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    let registry = tracing_subscriber::registry().with(filter);
    if under_systemd {
        if let Ok(journald) = tracing_journald::layer() {
            let _ = registry
                .with(
                    journald
                        .with_syslog_identifier("fleetnode".into())
                        .with_field_prefix(None),
                )
                .try_init();
            return;
        }
    }
    let _ = registry
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init();
}
