//! Every provider response parser takes any bytes without panicking. The first byte picks the
//! parser, the rest is the response body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| launchguard::sources::providers::parse_any(data));
