//! /etc/fleetnode.toml plus drop-ins: the input is split on NUL bytes (never valid in TOML)
//! into up to six files, merged in order, validated and rendered; additionally, every value
//! written in the last file must win in the merged tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = text.splitn(fleetnode_fuzz::MAX_FILES, '\0').collect();
    let src = fleetnode_fuzz::sources(&parts);
    if let Some(merged) = fleetnode_fuzz::check(&src) {
        fleetnode_fuzz::check_last_file_wins(&src, &merged);
    }
});
