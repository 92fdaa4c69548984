//! Inputs that once broke a parser, kept as regression tests: every file under
//! fuzz/regressions/<target>/ (crashes found by `scripts/fuzz.sh`, see fuzz/) and hostile
//! inputs written by hand. Each goes through the same function as its fuzz target and must
//! give a config or located errors, never a panic.

use std::path::{Path, PathBuf};

fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

/// Hostile YAML: alias expansion (billion laughs), deep nesting, odd scalars and bytes.
fn hostile() -> Vec<String> {
    let mut laughs = vec![r#"a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]"#.to_string()];
    for i in 1..10 {
        laughs.push(format!(
            "a{i}: &a{i} [{}]",
            vec![format!("*a{}", i - 1); 10].join(",")
        ));
    }
    laughs.push("tier: *a9".into());
    vec![
        laughs.join("\n"),
        format!("tier: {}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("budgets:\n{}", "  daily_usd:\n".repeat(1000)),
        "budgets: {daily_usd: 1e400, monthly_usd: -0, alert_ratio: .nan}".into(),
        "database: {interval: 99999999999999999999h}".into(),
        "database: {interval: \"\"}".into(),
        "tiers: {growth: {clients: 18446744073709551616}}".into(),
        "\u{0}\u{feff}tier: growth".into(),
        "---\ntier: growth\n---\ntier: soft_launch\n".into(),
        "? [a, b]\n: c\n".into(),
        "tls_server_config: {cert_file: \"\", key_file: \"\"}".into(),
        "basic_auth_users: {\"\": x, \"a:b\": y}".into(),
        "http_server_config: {headers: {\"X-Frame-Options\": \"a\\nb\"}}".into(),
    ]
}

fn check_config(text: &str) {
    if let Err(errs) = launchguard::config::load_str(text) {
        assert!(!errs.is_empty());
        for e in errs {
            assert!(!e.to_string().is_empty());
        }
    }
}

fn check_web(text: &str) {
    let dir = Path::new("/nonexistent/launchguard-fuzz");
    if let Err(errs) = launchguard::web::parse_str(text, dir) {
        assert!(!errs.is_empty());
        for e in errs {
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn config_parser_survives_every_kept_input() {
    for (p, bytes) in regressions("config") {
        if let Ok(t) = std::str::from_utf8(&bytes) {
            eprintln!("{}", p.display());
            check_config(t);
        }
    }
    for t in hostile() {
        check_config(&t);
    }
    // The alias bomb is refused, not expanded.
    let e = launchguard::config::load_str(&hostile()[0]).unwrap_err();
    assert!(e[0].to_string().contains("billion-laughs"), "{}", e[0]);
}

#[test]
fn provider_and_guard_parsers_survive_every_kept_input() {
    for (p, bytes) in regressions("provider_responses") {
        eprintln!("{}", p.display());
        launchguard::sources::providers::parse_any(&bytes);
    }
    for (p, bytes) in regressions("guard_request") {
        eprintln!("{}", p.display());
        let _ = launchguard::guard::api::parse_admit(&bytes);
        let _ = launchguard::guard::api::parse_settle(&bytes);
    }
    // Hostile bodies written by hand: deep nesting, huge numbers, lone surrogates.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for body in [
        deep.as_str(),
        r#"{"data":[{"results":[{"amount":"1e999999"}]}]}"#,
        r#"{"client_id":"\ud800","kind":"ai","input_tokens":18446744073709551616}"#,
        r#"{"input_tokens":-1,"output_tokens":1e308}"#,
    ] {
        let b = body.as_bytes();
        for which in 0..7u8 {
            let mut input = vec![which];
            input.extend_from_slice(b);
            launchguard::sources::providers::parse_any(&input);
        }
        let _ = launchguard::guard::api::parse_admit(b);
        let _ = launchguard::guard::api::parse_settle(b);
    }
}

#[test]
fn guard_settle_path_and_admin_bodies_survive_every_kept_input() {
    use launchguard::guard::fuzzing::{admin_body, settle_path};
    for target in ["guard_settle", "guard_admin"] {
        let run = if target == "guard_settle" {
            settle_path
        } else {
            admin_body
        };
        for (p, bytes) in regressions(target).into_iter().chain(seeds(target)) {
            eprintln!("{}", p.display());
            run(&bytes);
        }
    }
    // The issue's absurd values, held at the ceiling and settled past every bound.
    let held = |cost: i64, tokens: i64, body: &str| {
        let mut v = cost.to_le_bytes().to_vec();
        v.extend_from_slice(&tokens.to_le_bytes());
        v.extend_from_slice(body.as_bytes());
        v
    };
    for body in [
        r#"{"reservation_id":"r1","usage":{"characters":9000000000000000000}}"#,
        r#"{"reservation_id":"r1","usage":{"characters":1000000000000000,"requests":1000000000000000}}"#,
        r#"{"reservation_id":"r1","usage":{"cost_usd":"1000000"}}"#,
        r#"{"reservation_id":"r1","usage":{"cost_usd":"1e20"}}"#,
        r#"{"reservation_id":"r1","usage":{"output_tokens":1e15,"cache_write_tokens":1e15}}"#,
    ] {
        for (cost, tokens) in [(0, 0), (i64::MAX, i64::MAX), (i64::MIN, -1)] {
            settle_path(&held(cost, tokens, body));
        }
    }
    for scope in 0u8..8 {
        for body in [
            r#"{"budget_usd":"1e20"}"#,
            r#"{"budget_usd":"79228162514264337593543950335"}"#,
            r#"{"budget_usd":1e400}"#,
            r#"{"budget_usd":80,"for":"300000y"}"#,
            r#"{"budget_usd":80,"for":"99999999999999999999h"}"#,
            r#"{"budget_usd":80,"until":"9999-12-31T23:59:59Z"}"#,
            r#"{"budget_usd":80,"until":"-262143-01-01T00:00:00Z"}"#,
            r#"{"note":"x"}"#,
        ] {
            let mut v = vec![scope];
            v.extend_from_slice(body.as_bytes());
            admin_body(&v);
        }
    }
}

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn web_config_parser_survives_every_kept_input() {
    for (p, bytes) in regressions("web_config") {
        if let Ok(t) = std::str::from_utf8(&bytes) {
            eprintln!("{}", p.display());
            check_web(t);
        }
    }
    for t in hostile() {
        check_web(&t);
    }
}

/// The Vercel drain receiver's pure path, as its fuzz target drives it: signed with a key of its
/// own, plain and as gzip.
fn drain(bytes: &[u8]) {
    use launchguard::ingest::vercel::receiver::process_checked;
    let cfg = launchguard::config::vercel::VercelDrain {
        max_decompressed_bytes: 1 << 20,
        ..Default::default()
    };
    let sig = launchguard::ingest::vercel::verify::sign(b"fuzz", bytes);
    let now = 1_796_041_200_000;
    let _ = process_checked(bytes, None, b"fuzz", &sig, &cfg, now);
    let _ = process_checked(bytes, Some("gzip"), b"fuzz", &sig, &cfg, now);
}

#[test]
fn the_vercel_drain_receiver_survives_every_kept_input() {
    for (p, bytes) in regressions("vercel_drain") {
        eprintln!("{}", p.display());
        drain(&bytes);
    }
    // Hostile bodies written by hand: deep nesting, huge and odd numbers, lone surrogates,
    // a REPORT line with an absurd duration, a gzip header with nothing after it.
    let deep = format!("[{}{}]", "{\"proxy\":".repeat(50_000), "}".repeat(50_000));
    for body in [
        deep.as_str(),
        r#"[{"requestId":"\ud800","proxy":{"timestamp":1e400,"statusCode":1e308}}]"#,
        r#"{"requestId":"x","proxy":{"timestamp":-9223372036854775808,"responseByteSize":1.8e19}}"#,
        r#"{"requestId":"x","timestamp":1796041200000,"message":"REPORT RequestId: x Duration: 99999999999999999999999 ms"}"#,
    ] {
        drain(body.as_bytes());
    }
    drain(&[0x1f, 0x8b, 0x08]);
}
