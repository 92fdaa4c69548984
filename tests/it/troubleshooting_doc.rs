//! docs/troubleshooting.md quotes real output: the cases that need no database are run again
//! here, and every line the binary prints must appear on the page as it is.

use std::path::Path;
use std::process::Command;

use crate::common::port;
use port::free_port;

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md"))
        .unwrap()
}

fn output(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_launchguard"));
    cmd.args(args)
        .env_remove("SUPABASE_DB_URL")
        .env_remove("LAUNCHGUARD_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn assert_quoted(text: &str, skip: &[&str]) {
    let doc = doc();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if skip.iter().any(|s| line.starts_with(s)) {
            continue;
        }
        assert!(
            doc.contains(line),
            "docs/troubleshooting.md does not quote this output line as it is:\n{line}"
        );
    }
}

#[test]
fn source_down_outputs_are_quoted() {
    let refused = format!(
        "postgres://launchguard_reader:pw@127.0.0.1:{}/postgres?sslmode=disable",
        free_port()
    );
    for (env, code) in [
        (vec![], 1),
        (vec![("SUPABASE_DB_URL", refused.as_str())], 1),
        (vec![("SUPABASE_DB_URL", "postgres://x:y@host:port/db")], 1),
    ] {
        let (got, text) = output(&["check", "--connect"], &env);
        assert_eq!(got, Some(code), "{text}");
        assert_quoted(&text, &[]);
    }
}

#[test]
fn config_errors_are_quoted() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("bad.yaml", "tier: platinum\n"),
        (
            "bad2.yaml",
            "database:\n  url: postgres://launchguard_reader:secret@db/postgres\n",
        ),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        let (code, out) = output(&["check", "--config", f.to_str().unwrap()], &[]);
        assert_eq!(code, Some(2), "{out}");
        let out = out.replace(&format!("{}/", dir.path().display()), "");
        assert_quoted(&out, &[]);
    }
}

#[test]
fn web_config_errors_are_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("web.yml");
    std::fs::write(
        &f,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  bob: hunter2\n",
    )
    .unwrap();
    let (code, out) = output(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--web.config.file",
            f.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{out}");
    let out = out.replace(&dir.path().display().to_string(), "/etc/launchguard");
    assert_quoted(&out, &[]);
}
