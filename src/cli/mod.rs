pub mod address;
pub mod check;
pub mod render;

/// Exit statuses (the CLI contract).
pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
