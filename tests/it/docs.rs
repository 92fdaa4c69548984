//! The docs are checked against the code that defines what they describe.

use std::path::Path;

fn read(p: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

#[test]
fn metrics_doc_lists_exactly_the_metrics_module() {
    let doc = read("docs/metrics.md");
    let begin = "<!-- metrics:begin -->\n";
    let end = "<!-- metrics:end -->";
    let (head, rest) = doc
        .split_once(begin)
        .expect("docs/metrics.md has the begin marker");
    let (table, tail) = rest
        .split_once(end)
        .expect("docs/metrics.md has the end marker");
    let want = launchguard::metrics::names::markdown_table();
    if table != want && std::env::var_os("UPDATE_DOCS").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
        std::fs::write(path, format!("{head}{begin}{want}{end}{tail}")).unwrap();
        return;
    }
    assert!(
        table == want,
        "docs/metrics.md is out of step with src/metrics/names.rs; run `UPDATE_DOCS=1 cargo test --test it docs::metrics_doc` or put between the markers:\n{want}"
    );
}

#[test]
fn configuration_doc_names_every_config_field() {
    let doc = read("docs/configuration.md");
    let missing: Vec<_> = launchguard::config::reference::field_paths()
        .into_iter()
        .filter(|p| !doc.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not describe: {missing:#?}"
    );
}

#[test]
fn configuration_doc_yaml_block_is_a_valid_config_equal_to_the_defaults() {
    let doc = read("docs/configuration.md");
    let block = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml block");
    let cfg = launchguard::config::load_str(block).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(cfg, launchguard::config::Config::default());
}

#[test]
fn guard_doc_lists_every_reason_code_with_its_decision() {
    let doc = read("docs/guard.md");
    for r in launchguard::policy::Reason::ALL {
        let row = format!("| `{}` | {} |", r.code(), r.decision().as_str());
        assert!(
            doc.contains(&row),
            "docs/guard.md has no reason row starting {row}"
        );
    }
}
