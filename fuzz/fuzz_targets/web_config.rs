//! The web config parser (exporter-toolkit format) takes any text without panicking. Paths
//! are resolved against a folder that does not exist, so no real file is read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = launchguard::web::parse_str(
            text,
            std::path::Path::new("/nonexistent/launchguard-fuzz"),
        );
    }
});
