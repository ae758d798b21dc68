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
