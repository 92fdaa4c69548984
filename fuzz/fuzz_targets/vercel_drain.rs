//! The Vercel drain receiver's pure path (signature, gunzip, JSON or NDJSON, planning) takes any
//! signed body, plain or as gzip, without panicking.
#![no_main]

use launchguard::config::vercel::VercelDrain;
use launchguard::ingest::vercel::receiver::process_checked;
use launchguard::ingest::vercel::verify::sign;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = VercelDrain {
        max_decompressed_bytes: 1 << 20,
        ..VercelDrain::default()
    };
    let sig = sign(b"fuzz", data);
    let now = 1_796_041_200_000;
    let _ = process_checked(data, None, b"fuzz", &sig, &cfg, now);
    let _ = process_checked(data, Some("gzip"), b"fuzz", &sig, &cfg, now);
});
