//! Property tests: every provider response parser takes arbitrary bytes, and documented shapes
//! with arbitrary values in every field, without panicking; whatever parses also goes through
//! the day store, the assessment and the metrics export without panicking.

use chrono::{DateTime, Utc};
use launchguard::config::Config;
use launchguard::core::assess::assess;
use launchguard::core::controls::FounderControls;
use launchguard::figures::Figures;
use launchguard::metrics::encode::Exposition;
use launchguard::sources::providers::figures::DailyStore;
use launchguard::sources::providers::{anthropic, elevenlabs, openai, openrouter};
use proptest::prelude::*;
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    "2026-11-20T15:00:00Z".parse().unwrap()
}

/// Runs every parser on `body`; what parses is pushed through the store and the export.
fn feed(body: &[u8]) {
    let now = now();
    let mut store = DailyStore::default();
    let (from, to) = store.fetch_range(now, 3);
    if let (Ok(u), Ok(c)) = (anthropic::parse_usage(body), anthropic::parse_cost(body))
        && let Ok(days) = anthropic::into_days(u.items, c.items)
    {
        store.replace(now, from, to, days);
    }
    let _ = anthropic::parse_usage(body);
    let _ = anthropic::parse_cost(body);
    let mut c = Figures::default();
    c.providers
        .insert("anthropic", store.figures("anthropic", now));
    let mut store = DailyStore::default();
    if let (Ok(u), Ok(k)) = (openai::parse_usage(body), openai::parse_costs(body))
        && let Ok(days) = openai::into_days(u.items, k.items)
    {
        store.replace(now, from, to, days);
    }
    let _ = openai::parse_usage(body);
    let _ = openai::parse_costs(body);
    c.providers.insert("openai", store.figures("openai", now));
    let credits = openrouter::parse_credits(body).ok();
    if let Ok(k) = openrouter::parse_key(body) {
        c.providers
            .insert("openrouter", openrouter::figures(now, &k, credits));
    }
    if let Ok(s) = elevenlabs::parse_subscription(body) {
        let _ = elevenlabs::billing_period(&s);
        c.providers
            .insert("elevenlabs", elevenlabs::figures(now, &s));
    }
    let a = assess(&Config::default(), &c, &FounderControls::default(), now);
    let mut e = Exposition::default();
    launchguard::metrics::providers::export(&mut e, &a, &c);
    let _ = e.encode();
}

/// Any JSON value, weighted towards the troublesome ones: huge, negative, fractional,
/// numeric-looking strings, nulls and wrong types.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just("1e400".to_string()),
            Just("-0".to_string()),
            Just("79228162514264337593543950335".to_string()),
            Just("79228162514264337593543950336".to_string()),
            Just("0.0000000000000000000000000000001".to_string()),
            Just("2026-11-20T00:00:00Z".to_string()),
            Just("+262143-12-31T23:59:59Z".to_string()),
            ".{0,12}",
            "[0-9.eE+-]{1,30}",
        ]
        .prop_map(Value::from),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The documented shapes with an arbitrary value in every field.
fn shaped() -> impl Strategy<Value = Value> {
    let v = leaf;
    prop_oneof![
        (v(), v(), v(), v(), v(), v(), v(), v(), v()).prop_map(|(a, b, c, d, e, f, g, h, i)| json!({
            "data": [{"starting_at": a, "results": [{
                "uncached_input_tokens": b, "cache_creation": {"ephemeral_1h_input_tokens": c, "ephemeral_5m_input_tokens": d},
                "cache_read_input_tokens": e, "output_tokens": f, "model": g,
                "amount": h, "currency": "USD", "cost_type": i}]}],
            "has_more": false, "next_page": null
        })),
        (v(), v(), v(), v(), v(), v(), v()).prop_map(|(a, b, c, d, e, f, g)| json!({
            "data": [{"start_time": a, "results": [{
                "input_tokens": b, "input_cached_tokens": c, "output_tokens": d, "model": e,
                "amount": {"value": f, "currency": "usd"}, "line_item": g}]}],
            "has_more": false
        })),
        (v(), v(), v(), v(), v(), v(), v()).prop_map(|(a, b, c, d, e, f, g)| json!({
            "data": {"limit": a, "limit_remaining": b, "usage_daily": c, "usage_weekly": d,
                     "usage_monthly": e, "total_credits": f, "total_usage": g}
        })),
        (v(), v(), v(), v()).prop_map(|(a, b, c, d)| json!({
            "character_count": a, "character_limit": b, "next_character_count_reset_unix": c,
            "character_refresh_period": d
        })),
        // Well-typed extremes: the largest counts, amounts and times the types hold.
        (any::<u64>(), any::<u64>(), any::<i64>(), prop_oneof![Just("monthly_period"), Just("annual_period")]).prop_map(
            |(a, b, c, d)| json!({
                "character_count": a, "character_limit": b, "next_character_count_reset_unix": c,
                "character_refresh_period": d,
                "data": [{"start_time": c, "starting_at": "2026-11-20T00:00:00Z", "results": [
                    {"input_tokens": a, "input_cached_tokens": b, "uncached_input_tokens": a, "output_tokens": b,
                     "amount": "79228162514264337593543950335"},
                    {"amount": "79228162514264337593543950335", "cost_type": "tokens"}]}]
            })
        ),
    ]
}

/// Runs `cases` of `strategy` on a thread with a large stack: the generated shapes nest deep
/// enough in a debug build to overflow the 2 MiB of a test thread.
fn check<S: Strategy + 'static>(strategy: fn() -> S, cases: u32)
where
    S::Value: Body,
{
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
                cases,
                ..ProptestConfig::default()
            });
            runner
                .run(&strategy(), |v| {
                    feed_value(&v);
                    Ok(())
                })
                .unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
}

trait Body {
    fn bytes(&self) -> Vec<u8>;
}

impl Body for Vec<u8> {
    fn bytes(&self) -> Vec<u8> {
        self.clone()
    }
}

impl Body for Value {
    fn bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

fn feed_value<B: Body + ?Sized>(b: &B) {
    feed(&b.bytes());
}

#[test]
fn arbitrary_bytes_never_panic() {
    check(|| prop::collection::vec(any::<u8>(), 0..512), 512);
}

#[test]
fn arbitrary_json_never_panics() {
    check(any_json, 512);
}

#[test]
fn documented_shapes_with_arbitrary_values_never_panic() {
    check(shaped, 512);
}
