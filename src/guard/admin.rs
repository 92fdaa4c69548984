//! The founder's controls: kill switches (global, per provider, per client) and temporary
//! budget overrides, and the approval of the next milestone, set through `/api/v1/admin/...` with a bearer token. With one replica
//! they persist in a state file written atomically (temp file, fsync, rename); with Redis they
//! live in Redis. Every change is logged and counted in `launchguard_guard_admin_changes_total`.
//! Bodies are parsed by pure functions (`parse_kill`, `parse_override`) that the fuzz target
//! drives; every number in them is bounded (`core::bounded`), in the state file too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::Guard;
use super::wire::{check_token, closing, error};
use crate::config::TierName;
pub use crate::core::budget::Scope;
pub use crate::core::controls::{
    ACTIONS, BudgetOverride, Change, FounderControls, KillKey, KillSwitch, MAX_OVERRIDE_DAYS,
    rfc3339,
};
use crate::core::{bounded, periods};

/// Why the guard's state file cannot be read or written; every variant names the file. A
/// load error stops the guard from starting; a write error leaves the change unmade.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read guard state file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("guard state file {} is not valid: {source}; fix or remove it", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A budget override past the bounds (`core::bounded`), e.g. written before they existed.
    #[error(
        "guard state file {} is not valid: budget_overrides.{key}.budget_usd {problem}; fix or remove it",
        path.display()
    )]
    OutOfBounds {
        path: PathBuf,
        key: String,
        problem: String,
    },
    #[error("cannot encode state: {0}")]
    Encode(#[source] serde_json::Error),
    #[error(transparent)]
    Write(#[from] crate::private_file::WriteError),
}

/// Reads the state file; a missing file is an empty state, a corrupt one an error (starting
/// without the founder's kill switches would be worse than not starting).
pub fn load_state_file(path: &Path) -> Result<FounderControls, StateFileError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FounderControls::default());
        }
        Err(source) => {
            return Err(StateFileError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let s: FounderControls =
        serde_json::from_slice(&bytes).map_err(|source| StateFileError::Invalid {
            path: path.to_path_buf(),
            source,
        })?;
    match s.problems().into_iter().next() {
        None => Ok(s),
        Some((key, problem)) => Err(StateFileError::OutOfBounds {
            path: path.to_path_buf(),
            key,
            problem,
        }),
    }
}

/// Writes the state file atomically: a reader sees the old file or the new one, never half.
/// Only the owner may read it (0600): it names the clients the founder stopped.
pub fn write_state_file(path: &Path, s: &FounderControls) -> Result<(), StateFileError> {
    let mut json = serde_json::to_vec_pretty(s).map_err(StateFileError::Encode)?;
    json.push(b'\n');
    Ok(crate::private_file::write(path, &json, "guard state file")?)
}

// --- HTTP -------------------------------------------------------------------------------------

/// Why an admin request was refused; it renders itself as the JSON error response.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AdminError {
    /// The path or body is not a valid change (400).
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the server's body limit (400).
    #[error("the body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The change was valid but could not be stored (503): nothing changed.
    #[error("the change was not persisted: {0}")]
    NotPersisted(String),
}

impl From<String> for AdminError {
    fn from(reason: String) -> Self {
        AdminError::BadRequest(reason)
    }
}

impl From<super::wire::NameError> for AdminError {
    fn from(e: super::wire::NameError) -> Self {
        AdminError::BadRequest(e.to_string())
    }
}

impl From<bounded::NumberError> for AdminError {
    fn from(e: bounded::NumberError) -> Self {
        AdminError::BadRequest(e.to_string())
    }
}

impl From<&str> for AdminError {
    fn from(reason: &str) -> Self {
        AdminError::BadRequest(reason.into())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AdminError::BadRequest(_) | AdminError::BodyTooLarge(_) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            AdminError::NotPersisted(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_persisted"),
        };
        let r = error(status, code, self.to_string());
        match self {
            AdminError::BodyTooLarge(_) => closing(r),
            _ => r,
        }
    }
}

/// What an admin handler answers: the state after the change, or why not.
type Answer = Result<Response, AdminError>;

/// Every admin route, behind the admin token (checked by a route layer before any handler
/// reads a body).
pub fn router(g: Arc<Guard>) -> Router {
    Router::new()
        .route("/api/v1/admin/state", get(state))
        .route(
            "/api/v1/admin/kill-switches/global",
            put(kill_global_on).delete(kill_global_off),
        )
        .route(
            "/api/v1/admin/kill-switches/{scope}/{target}",
            put(kill_on).delete(kill_off),
        )
        .route(
            "/api/v1/admin/budgets/{scope}",
            put(override_set).delete(override_clear),
        )
        .route(
            "/api/v1/admin/budgets/{scope}/{client}",
            put(override_set_client).delete(override_clear_client),
        )
        .route(
            "/api/v1/admin/milestone/{target}/approval",
            put(approve).delete(withdraw_approval),
        )
        .route_layer(middleware::from_fn_with_state(g.clone(), require_admin))
        .with_state(g)
}

/// Why the admin API is disabled: the admin token is unset, empty or unreadable. Names the
/// secret's reference (`env:NAME`, `file:PATH`), never its value.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    /// Unset, or empty (a token file of 0 bytes or only whitespace included).
    #[error("guard.admin_token ({reference}): {why}")]
    Unset { reference: String, why: String },
    /// The file or variable it names cannot be read.
    #[error("guard.admin_token: {0}")]
    Unreadable(#[source] crate::config::SecretFileError),
}

/// The admin token, or why the admin API is disabled. Never an empty token.
pub fn token_of(cfg: &crate::config::Config) -> Result<crate::config::Secret, AdminTokenError> {
    let r = &cfg.guard.admin_token;
    match r.resolve() {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(AdminTokenError::Unset {
            reference: r.to_string(),
            why: r.describe_unset(),
        }),
        Err(e) => Err(AdminTokenError::Unreadable(e)),
    }
}

/// The header that carries the admin token when `Authorization` holds basic-auth credentials.
pub const ADMIN_TOKEN_HEADER: &str = "x-launchguard-admin-token";

/// The route layer: the request goes on only with the right admin token; otherwise the 401.
async fn require_admin(
    State(g): State<Arc<Guard>>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    // Refused before its body is read: the connection is closed after the answer.
    let Some(token) = g.admin_token() else {
        return closing(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin API is disabled: guard.admin_token is unset or empty",
        ));
    };
    if let Some(refused) = check_token(
        req.headers(),
        token.expose(),
        ADMIN_TOKEN_HEADER,
        "X-Launchguard-Admin-Token",
        "admin",
    ) {
        return closing(refused);
    }
    next.run(req).await
}

async fn state(State(g): State<Arc<Guard>>) -> Response {
    state_response(&g.admin_state())
}

fn state_response(s: &FounderControls) -> Response {
    let body = serde_json::to_string(s).unwrap_or_else(|_| "{}".into());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Applies a checked change: the state after it, persisted and published.
async fn run(g: &Guard, change: Change) -> Answer {
    g.apply_admin(&change)
        .await
        .map(|s| state_response(&s))
        .map_err(|e| AdminError::NotPersisted(e.to_string()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KillBody {
    #[serde(default)]
    note: String,
}

async fn body_bytes(g: &Guard, body: Body) -> Result<axum::body::Bytes, AdminError> {
    axum::body::to_bytes(body, g.body_limit())
        .await
        .map_err(|_| AdminError::BodyTooLarge(g.body_limit()))
}

fn json_body<T: for<'de> Deserialize<'de> + Default>(bytes: &[u8]) -> Result<T, AdminError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| AdminError::BadRequest(format!("invalid JSON body: {e}")))
}

fn target_ok(what: &'static str, t: &str) -> Result<(), AdminError> {
    Ok(super::wire::check_name(what, t, false)?)
}

/// A kill switch's body: `{"note": "…"}` or nothing.
pub fn parse_kill(key: KillKey, body: &[u8]) -> Result<Change, AdminError> {
    let b: KillBody = json_body(body)?;
    if b.note.chars().count() > 200 {
        return Err("`note` is longer than 200 characters".into());
    }
    Ok(Change::SetKill(key, b.note))
}

fn kill_key(scope: &str, target: &str) -> Result<KillKey, AdminError> {
    match scope {
        "provider" => target_ok("provider", target).map(|_| KillKey::Provider(target.into())),
        "client" => target_ok("client", target).map(|_| KillKey::Client(target.into())),
        other => Err(AdminError::BadRequest(format!(
            "unknown kill switch scope `{other}`: use global, provider/NAME or client/ID"
        ))),
    }
}

async fn kill_global_on(State(g): State<Arc<Guard>>, body: Body) -> Answer {
    let change = parse_kill(KillKey::Global, &body_bytes(&g, body).await?)?;
    run(&g, change).await
}

async fn kill_global_off(State(g): State<Arc<Guard>>) -> Answer {
    run(&g, Change::ClearKill(KillKey::Global)).await
}

async fn kill_on(
    State(g): State<Arc<Guard>>,
    UrlPath((scope, target)): UrlPath<(String, String)>,
    body: Body,
) -> Answer {
    let key = kill_key(&scope, &target)?;
    let change = parse_kill(key, &body_bytes(&g, body).await?)?;
    run(&g, change).await
}

async fn kill_off(
    State(g): State<Arc<Guard>>,
    UrlPath((scope, target)): UrlPath<(String, String)>,
) -> Answer {
    run(&g, Change::ClearKill(kill_key(&scope, &target)?)).await
}

/// `{"budget_usd": 80, "until": "2026-11-27T06:00:00Z"}` or `{"budget_usd": "80", "for": "2h"}`;
/// without either the override lasts until the scope's period ends.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    budget_usd: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "rfc3339::option::deserialize")]
    until: Option<DateTime<Utc>>,
    #[serde(rename = "for")]
    lasting: Option<String>,
}

fn budget_scope(scope: &str) -> Result<Scope, AdminError> {
    Scope::parse(scope).ok_or_else(|| {
        AdminError::BadRequest(format!(
            "unknown budget scope `{scope}`: use daily, monthly or client_daily"
        ))
    })
}

/// A budget override's body, checked: the scope from the path, `budget_usd` within
/// `bounded::MAX_USD`, and an end within `MAX_OVERRIDE_DAYS` of `now`.
pub fn parse_override(
    scope: &str,
    client: Option<String>,
    body: &[u8],
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<Change, AdminError> {
    let s = budget_scope(scope)?;
    if let Some(c) = &client {
        if s != Scope::ClientDaily {
            return Err("only client_daily budgets are set per client".into());
        }
        target_ok("client", c)?;
    }
    let b: OverrideBody = json_body(body)?;
    let usd = bounded::parse_usd(
        "budget_usd",
        b.budget_usd.as_ref().ok_or("`budget_usd` is required")?,
    )?;
    let latest = now
        .checked_add_signed(Duration::days(MAX_OVERRIDE_DAYS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let until = match (b.until, b.lasting) {
        (Some(_), Some(_)) => return Err("give `until` or `for`, not both".into()),
        (Some(u), None) => u,
        (None, Some(d)) => {
            let d = crate::config::Dur::parse(&d).map_err(|e| format!("`for`: {e}"))?;
            Duration::from_std(d.0)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .filter(|u| *u <= latest)
                .ok_or_else(|| format!("`for` is longer than {MAX_OVERRIDE_DAYS} days"))?
        }
        (None, None) => match s {
            Scope::Monthly => {
                periods::month_start(periods::month_start(now, tz) + Duration::days(32), tz)
            }
            _ => periods::next_day_start(now, tz),
        },
    };
    if until <= now {
        return Err("`until` is in the past".into());
    }
    if until > latest {
        return Err(AdminError::BadRequest(format!(
            "`until` is more than {MAX_OVERRIDE_DAYS} days away: change the budget in the config instead"
        )));
    }
    Ok(Change::SetOverride {
        scope: s,
        client,
        budget_usd: usd,
        until,
    })
}

async fn override_set(
    State(g): State<Arc<Guard>>,
    UrlPath(scope): UrlPath<String>,
    body: Body,
) -> Answer {
    let bytes = body_bytes(&g, body).await?;
    let change = parse_override(&scope, None, &bytes, Utc::now(), g.config().tz())?;
    run(&g, change).await
}

async fn override_set_client(
    State(g): State<Arc<Guard>>,
    UrlPath((scope, client)): UrlPath<(String, String)>,
    body: Body,
) -> Answer {
    let bytes = body_bytes(&g, body).await?;
    let change = parse_override(&scope, Some(client), &bytes, Utc::now(), g.config().tz())?;
    run(&g, change).await
}

async fn override_clear(State(g): State<Arc<Guard>>, UrlPath(scope): UrlPath<String>) -> Answer {
    let scope = budget_scope(&scope)?;
    run(
        &g,
        Change::ClearOverride {
            scope,
            client: None,
        },
    )
    .await
}

async fn override_clear_client(
    State(g): State<Arc<Guard>>,
    UrlPath((scope, client)): UrlPath<(String, String)>,
) -> Answer {
    let scope = budget_scope(&scope)?;
    run(
        &g,
        Change::ClearOverride {
            scope,
            client: Some(client),
        },
    )
    .await
}

/// The target tier of an approval: a tier above the first (`hard_launch`, `growth`).
fn approval_target(target: &str) -> Result<TierName, AdminError> {
    match TierName::ALL.into_iter().find(|t| t.as_str() == target) {
        Some(t) if t != TierName::SoftLaunch => Ok(t),
        _ => Err(AdminError::BadRequest(format!(
            "unknown milestone target `{target}`: use hard_launch or growth"
        ))),
    }
}

/// An approval's body: `{"note": "…"}` (at most 200 characters) or nothing.
pub fn parse_approval(target: &str, body: &[u8]) -> Result<Change, AdminError> {
    let target = approval_target(target)?;
    let b: KillBody = json_body(body)?;
    if b.note.chars().count() > 200 {
        return Err("`note` is longer than 200 characters".into());
    }
    Ok(Change::Approve {
        target,
        note: b.note,
    })
}

async fn approve(
    State(g): State<Arc<Guard>>,
    UrlPath(target): UrlPath<String>,
    body: Body,
) -> Answer {
    let change = parse_approval(&target, &body_bytes(&g, body).await?)?;
    run(&g, change).await
}

async fn withdraw_approval(
    State(g): State<Arc<Guard>>,
    UrlPath(target): UrlPath<String>,
) -> Answer {
    let target = approval_target(&target)?;
    run(&g, Change::WithdrawApproval { target }).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn approval_bodies_and_targets_are_checked() {
        assert_eq!(
            parse_approval("hard_launch", br#"{"note":"week 2"}"#),
            Ok(Change::Approve {
                target: TierName::HardLaunch,
                note: "week 2".into()
            })
        );
        assert_eq!(
            parse_approval("growth", b""),
            Ok(Change::Approve {
                target: TierName::Growth,
                note: String::new()
            })
        );
        for t in ["soft_launch", "enterprise", ""] {
            assert!(
                parse_approval(t, b"")
                    .unwrap_err()
                    .to_string()
                    .contains("hard_launch or growth")
            );
        }
        let long = format!(r#"{{"note":"{}"}}"#, "x".repeat(201));
        assert!(
            parse_approval("growth", long.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("200")
        );
        assert!(parse_approval("growth", br#"{"by":"me"}"#).is_err());
    }

    #[test]
    fn state_file_round_trips_atomically_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(load_state_file(&p).unwrap(), FounderControls::default());
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let mut s = FounderControls::default();
        Change::SetKill(KillKey::Provider("openai".into()), "runaway".into()).apply(&mut s, now);
        Change::SetOverride {
            scope: Scope::Daily,
            client: None,
            budget_usd: dec!(80.5),
            until: now + Duration::hours(3),
        }
        .apply(&mut s, now);
        write_state_file(&p, &s).unwrap();
        assert_eq!(load_state_file(&p).unwrap(), s);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        std::fs::write(&p, "{not json").unwrap();
        assert!(
            load_state_file(&p)
                .unwrap_err()
                .to_string()
                .contains("not valid")
        );
        // Written before bounds existed: 1e20 via the admin API, persisted. A clear error now.
        std::fs::write(
            &p,
            r#"{"budget_overrides":{"daily":{"budget_usd":"100000000000000000000","until":"2026-11-27T00:00:00Z","since":"2026-11-26T00:00:00Z"}}}"#,
        )
        .unwrap();
        let e = load_state_file(&p).unwrap_err();
        assert!(matches!(e, StateFileError::OutOfBounds { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("budget_overrides.daily.budget_usd must be at most"),
            "{e}"
        );
    }

    #[test]
    fn the_state_file_is_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        // A stale temporary file with open permissions must not carry them over.
        let tmp = dir
            .path()
            .join(format!(".state.json.tmp-{}", std::process::id()));
        std::fs::write(&tmp, "old").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_state_file(&p, &FounderControls::default()).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    #[test]
    fn override_bodies_are_bounded() {
        let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        let tz = chrono_tz::UTC;
        let e = |b: &str| {
            parse_override("daily", None, b.as_bytes(), now, tz)
                .unwrap_err()
                .to_string()
        };
        assert!(e(r#"{"budget_usd":"1e20"}"#).contains("`budget_usd` must be at most 1000000"));
        assert!(e(r#"{"budget_usd":80,"for":"300000y"}"#).contains("`for`"));
        assert!(e(r#"{"budget_usd":80,"for":"367d"}"#).contains("366 days"));
        assert!(e(r#"{"budget_usd":80,"until":"9999-01-01T00:00:00Z"}"#).contains("366 days"));
        let ok = parse_override(
            "daily",
            None,
            br#"{"budget_usd":"1000000","for":"366d"}"#,
            now,
            tz,
        );
        assert!(ok.is_ok(), "{ok:?}");
    }
}
