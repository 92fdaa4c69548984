//! The guard's request parsers (admit and settle bodies) take any bytes without panicking.
#![no_main]

use launchguard::guard::api::{parse_admit, parse_settle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_admit(data);
    let _ = parse_settle(data);
});
