//! The config parser takes any text without panicking: it returns a config or located errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(errs) = launchguard::config::load_str(text) {
            // Rendering the errors is part of the path a user sees.
            for e in errs {
                let _ = e.to_string();
            }
        }
    }
});
