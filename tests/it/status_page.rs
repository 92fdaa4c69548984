//! The founder status page in headless Chromium: served by the real binary from a real
//! PostgreSQL holding a small known dataset; no console errors; the known figures shown;
//! screenshots at phone (390x844) and desktop (1280x800) width kept under
//! target/test-artifacts/. Needs the Debian package chromium (a missing one fails the test).

use crate::common::exporter;
use crate::common::pg;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DurationRound, TimeDelta, Utc};
use exporter::Exporter;
use pg::TestPg;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str], url: &str) -> (String, String) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: install the Debian package chromium (apt-get install -y chromium)"
    );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("60")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Console messages (errors, failed loads, CSP reports) from Chromium's log. The page has no
/// script, so any console message at all is a defect.
fn console_messages(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// The HTML of the element that carries `attr` up to the start of the next row.
fn row<'a>(dom: &'a str, attr: &str) -> &'a str {
    let start = dom
        .find(attr)
        .unwrap_or_else(|| panic!("{attr} not on the page:\n{dom}"));
    let rest = &dom[start..];
    let end = rest[1..]
        .find(r#"<div class="row""#)
        .or_else(|| rest.find("</section>"))
        .map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

fn png_size(path: &Path) -> (u32, u32, usize) {
    let b = std::fs::read(path).unwrap();
    assert!(b.len() > 24, "{} is not a PNG", path.display());
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let w = u32::from_be_bytes(b[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(b[20..24].try_into().unwrap());
    (w, h, b.len())
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn console_detector_sees_a_deliberate_error() {
    // The check below is only worth something if it can fail: a page that throws must trip it.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        r#"<!doctype html><link rel="icon" href="data:,"><script>throw new Error("deliberate")</script>"#,
    )
    .unwrap();
    let (_, log) = chromium(&["--dump-dom"], &format!("file://{}", page.display()));
    let msgs = console_messages(&log);
    assert!(
        msgs.iter().any(|m| m.contains("deliberate")),
        "the console detector missed a thrown error: {log}"
    );
}

#[test]
fn status_page_shows_the_known_dataset() {
    let pg = TestPg::start();
    let now = Utc::now();
    let day = now.duration_trunc(TimeDelta::days(1)).unwrap();
    let d = format!("'{}'::timestamptz", day.to_rfc3339());
    // 3 active clients; client A spends 1M input x $3 + 0.1M output x $15 = $4.50 on anthropic
    // today (90% of the $5 per-client budget: alert); 60 queued email jobs (queue warning).
    pg.psql_query(&format!(
        "insert into clients (id, name, status) values
           ('00000000-0000-0000-0000-00000000000a', 'A', 'active'),
           ('00000000-0000-0000-0000-00000000000b', 'B', 'trial'),
           ('00000000-0000-0000-0000-00000000000c', 'C', 'active'),
           ('00000000-0000-0000-0000-00000000000d', 'D', 'paused');
         insert into ai_usage_events (occurred_at, client_id, provider, model, input_tokens,
           output_tokens, requests)
           values ({d}, '00000000-0000-0000-0000-00000000000a', 'anthropic', 'claude-sonnet-4',
                   1000000, 100000, 10);
         insert into jobs (client_id, kind, status, created_at)
           select '00000000-0000-0000-0000-00000000000b', 'email', 'queued', {d}
           from generate_series(1, 60);"
    ));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("launchguard.yaml");
    std::fs::write(
        &cfg,
        "tier: hard_launch\ndatabase:\n  interval: 1s\n  timeout: 10s\n",
    )
    .unwrap();
    let url = pg.reader_url();
    let ex = Exporter::start(Some(&cfg), &[("SUPABASE_DB_URL", &url)]);
    ex.wait_for(Duration::from_secs(30), "the first collection", |m| {
        m.get(r#"launchguard_source_up{source="supabase"}"#) == Some(&1.0)
    });
    let page = format!("http://{}/", ex.addr);

    let (dom, log) = chromium(&["--dump-dom"], &page);
    assert_eq!(
        console_messages(&log),
        Vec::<&str>::new(),
        "console messages"
    );

    assert!(dom.contains(r#"data-health="warning""#), "{dom}");
    assert!(dom.contains(r#"data-tier="hard_launch""#), "{dom}");
    assert!(
        dom.contains(r#"<meta http-equiv="refresh" content="30">"#),
        "{dom}"
    );
    assert!(row(&dom, r#"data-resource="clients""#).contains("3 / 50"));
    assert!(row(&dom, r#"data-resource="ai_tokens_per_day""#).contains("1,100,000 / 5,000,000"));
    let client = row(&dom, r#"data-scope="client_daily""#);
    assert!(client.contains(r#"data-state="alert""#), "{client}");
    assert!(
        client.contains("$4.50 of $5.00") && client.contains("90%"),
        "{client}"
    );
    let daily = row(&dom, r#"data-scope="daily""#);
    assert!(
        daily.contains("$4.50 of $50.00") && daily.contains(r#"data-state="ok""#),
        "{daily}"
    );
    assert!(dom.contains(r#"data-provider="anthropic""#), "{dom}");
    let queue = row(&dom, r#"data-figure="queue_depth""#);
    assert!(
        queue.contains(r#"data-level="warning""#)
            && queue.contains("60 jobs")
            && queue.contains("delay new jobs"),
        "{queue}"
    );
    let tokens = row(&dom, r#"data-figure="ai_tokens""#);
    assert!(
        tokens.contains("22%") && tokens.contains(r#"data-level="normal""#),
        "{tokens}"
    );
    let source = row(&dom, r#"data-source="supabase""#);
    assert!(
        source.contains(r#"data-state="up""#) && source.contains(" old"),
        "{source}"
    );
    assert!(
        row(&dom, "data-readiness=").contains("Not measured yet"),
        "readiness is honest until strain reports exist"
    );
    // The growth checklist is open by default (nothing marked done): the page says what is.
    assert!(
        dom.contains("Checklist still open: cdn, read replicas"),
        "open checklist items are listed"
    );
    for link in [r#"href="/metrics""#, r#"href="/docs/""#] {
        assert!(dom.contains(link), "{link}");
    }
    // The page needs nothing from elsewhere.
    for external in ["http://", "https://", "<script"] {
        let body = dom.split("</head>").nth(1).unwrap_or(&dom);
        assert!(!body.contains(external), "external reference {external}");
    }
    // Every linked doc is served.
    let (code, _, body) = ex.get("/docs/").unwrap();
    assert_eq!(code, 200);
    for href in body.split(r#"href="/docs/"#).skip(1) {
        let name = href.split('"').next().unwrap();
        assert_eq!(ex.get(&format!("/docs/{name}")).unwrap().0, 200, "{name}");
    }

    let out = artifacts();
    for (name, w, h) in [
        ("status-phone", 390u32, 844u32),
        ("status-desktop", 1280, 800),
    ] {
        let png = out.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        let (_, log) = chromium(
            &[
                &format!("--window-size={w},{h}"),
                &format!("--screenshot={}", png.display()),
            ],
            &page,
        );
        assert_eq!(console_messages(&log), Vec::<&str>::new(), "{name}");
        let (pw, ph, len) = png_size(&png);
        assert_eq!((pw, ph), (w, h), "{name} size");
        // A blank page compresses to a few kB; text, bars and colours take far more.
        assert!(len > 20_000, "{name} is {len} bytes: nothing rendered?");
    }
}
