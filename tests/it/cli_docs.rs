//! Shell completions and man pages come from the clap definition: every command is in them,
//! the bash script parses, and groff renders the pages without a warning. Needs bash and the
//! Debian package groff-base.

use std::process::Command;

fn launchguard(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Every subcommand, from the same clap definition the binary uses.
fn commands() -> Vec<String> {
    use clap::CommandFactory;
    launchguard::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn completions_cover_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = launchguard(&["completions", shell]);
        let cmds = commands();
        assert!(cmds.len() >= 4, "{cmds:?}");
        for c in &cmds {
            assert!(script.contains(c.as_str()), "{shell} completion lacks {c}");
        }
        assert!(script.contains("web.config.file"), "{shell}: serve's flags");
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("launchguard.bash");
    std::fs::write(&f, launchguard(&["completions", "bash"])).unwrap();
    let st = Command::new("bash").arg("-n").arg(&f).status().unwrap();
    assert!(st.success(), "the bash completion does not parse");
}

#[test]
fn man_pages_render_cleanly() {
    let page = launchguard(&["man"]);
    assert!(page.contains(".TH launchguard 1"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    launchguard(&["man", "--dir", dir.path().to_str().unwrap()]);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = commands()
        .iter()
        .map(|c| format!("launchguard-{c}.1"))
        .chain(["launchguard.1".to_string()])
        .collect();
    want.sort();
    assert_eq!(names, want);
    for n in &names {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(dir.path().join(n))
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run groff ({e}): install the Debian package groff-base")
            });
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `launchguard check | head` must not panic when the reader is gone: the config is a FIFO the
/// test writes only after it closed the read end of check's stdout, so every line check prints
/// meets a broken pipe, deterministically.
#[test]
fn a_closed_stdout_ends_the_output_quietly() {
    use std::io::Write;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("launchguard.yaml");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success(), "mkfifo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["check", "--config"])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    // Opening the FIFO for writing waits for check to open it for reading.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"tier: soft_launch\n").unwrap();
    drop(w);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
