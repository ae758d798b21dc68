//! Diagnostics logging: to the journal (structured fields, e.g. CHECK= and STATUS= for every
//! health check) when run by systemd, else to stderr. Level from FLEETNODE_LOG (e.g. `debug`);
//! on a terminal the default is off, since every command prints what it did.

use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let under_systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    let default = if under_systemd { "info" } else { "off" };
    let filter =
        EnvFilter::try_from_env("FLEETNODE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry().with(filter);
    if under_systemd {
        if let Ok(journald) = tracing_journald::layer() {
            let journald = journald
                .with_syslog_identifier("fleetnode".into())
                .with_field_prefix(None);
            let _ = registry.with(journald).try_init();
            return;
        }
    }
    let _ = registry
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init();
}
