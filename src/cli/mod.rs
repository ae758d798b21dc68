pub mod address;
pub mod apply;
pub mod check;
pub mod core;
pub mod discovery;
pub mod etcd;
pub mod fleet;
pub mod health;
pub mod logging;
pub mod man;
pub mod render;
pub mod safefs;
pub mod status;
pub mod systemd;

/// Exit statuses (the CLI contract).
pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;

/// The valid configuration, or the exit status after saying why there is none: an
/// unconfigured node is not an error (exit 0), an invalid configuration is (exit 1).
pub fn valid_config(root: &std::path::Path) -> Result<Box<fleetnode::config::Config>, u8> {
    match fleetnode::load(root) {
        fleetnode::Outcome::Valid { config, .. } => Ok(config),
        fleetnode::Outcome::Unconfigured => {
            println!("not configured: this host runs no etcd or fleet (edit /etc/fleetnode.toml)");
            Err(OK)
        }
        fleetnode::Outcome::Invalid(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("invalid configuration: see `fleetnode check`");
            Err(FAILED)
        }
    }
}
