//! The admin API bodies (kill switches, budget overrides): any bytes, parsed, applied,
//! persisted and read back the way admissions read them. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    launchguard::guard::fuzzing::admin_body(data);
});
