//! Every provider response parser takes any bytes without panicking. The first byte picks the
//! parser, the rest is the response body.
#![no_main]

use launchguard::sources::providers::{anthropic, elevenlabs, openai, openrouter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => drop(anthropic::parse_usage(body)),
        1 => drop(anthropic::parse_cost(body)),
        2 => drop(openai::parse_usage(body)),
        3 => drop(openai::parse_costs(body)),
        4 => drop(openrouter::parse_key(body)),
        5 => drop(openrouter::parse_credits(body)),
        _ => drop(elevenlabs::parse_subscription(body)),
    }
});
