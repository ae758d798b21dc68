//! One configuration file: text -> parse/merge -> validate -> render (or the invalid-config
//! unit), with the properties checked by `fleetnode_fuzz::check`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The generator rejects non-UTF-8 files before parsing (tests/bad-configs covers that).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    fleetnode_fuzz::check(&fleetnode_fuzz::sources(&[text]));
});
