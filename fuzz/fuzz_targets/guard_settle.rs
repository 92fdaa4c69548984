//! The guard's settle path: a held reservation, then any bytes as a settle body against it,
//! priced and settled in the in-process store. Must never panic, and the store must never
//! count less than was reserved and spent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    launchguard::guard::fuzzing::settle_path(data);
});
