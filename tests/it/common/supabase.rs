//! A PostgreSQL laid out like a hosted Supabase project, from `../shared/supabase/up.sh`
//! (Supabase's own init scripts and migrations: the anon, authenticated, service_role and
//! authenticator roles with Supabase's default privileges on `public`, the auth, storage and cron
//! schemas, and `postgres` demoted to what the SQL editor runs as: NOSUPERUSER, CREATEROLE,
//! BYPASSRLS). Trust authentication on 127.0.0.1; stopped and removed when dropped.
//!
//! Needs postgresql-15 and postgresql-15-cron (scripts/install-deps.sh installs them) and the
//! shared directory beside the repository (CI has it; a worktree reaches it through a symlink).
//! A missing one fails the test with what to install; it never passes silently.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SupabasePg {
    dir: String,
    port: u16,
    bindir: PathBuf,
}

fn up_sh() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/supabase/up.sh");
    assert!(
        p.is_file(),
        "{} not found: the Supabase-shaped PostgreSQL lives in ../shared/supabase beside the repository",
        p.display()
    );
    p
}

fn bindir() -> PathBuf {
    let d = PathBuf::from(
        std::env::var("PG_BINDIR").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
    );
    assert!(
        d.join("psql").is_file() && d.join("pg_ctl").is_file(),
        "PostgreSQL 15 not found in {}: apt-get install -y postgresql-15 postgresql-15-cron",
        d.display()
    );
    d
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The migrations of deploy/supabase/migrations, in the order they apply.
pub fn migration_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/supabase/migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
}

impl SupabasePg {
    /// Starts a fresh one (about 10 s: it runs Supabase's migrations). pg_cron is restarted
    /// with `cron.log_run = off`, as in tests/it/common/pg.rs, so a scheduled job that happens to
    /// run during a test never adds a row to the runs a test counts.
    pub fn start() -> SupabasePg {
        let bindir = bindir();
        let out = Command::new(up_sh())
            .env("PG_BINDIR", &bindir)
            .output()
            .expect("run ../shared/supabase/up.sh");
        assert!(
            out.status.success(),
            "up.sh failed (needs postgresql-15 and postgresql-15-cron):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (dir, port) = line.split_once(' ').expect("up.sh prints DIR PORT");
        let pg = SupabasePg {
            dir: dir.to_string(),
            port: port.parse().expect("port"),
            bindir,
        };
        pg.psql_as("supabase_admin", "alter system set cron.log_run = off");
        pg.pg_ctl("restart");
        pg
    }

    fn pg_ctl(&self, action: &str) {
        let cmd = format!(
            "{} -D {dir}/data -l {dir}/log -w -m fast {action}",
            self.bindir.join("pg_ctl").display(),
            dir = self.dir
        );
        let out = if is_root() {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", &cmd])
                .output()
        } else {
            Command::new("sh").args(["-c", &cmd]).output()
        }
        .expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn cmd(&self, user: &str) -> Command {
        let mut c = Command::new(self.bindir.join("psql"));
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args(["-p", &self.port.to_string(), "-U", user, "-d", "postgres"]);
        c
    }

    /// Runs SQL as `user`; the unaligned, tuples-only output or psql's error.
    pub fn try_psql_as(&self, user: &str, sql: &str) -> Result<String, String> {
        let out = self
            .cmd(user)
            .args(["-A", "-t", "-c", sql])
            .output()
            .expect("run psql");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs SQL as `user`; panics with psql's error.
    pub fn psql_as(&self, user: &str, sql: &str) -> String {
        self.try_psql_as(user, sql)
            .unwrap_or_else(|e| panic!("psql as {user}: {sql}\n{e}"))
    }

    /// Runs SQL as `postgres`, the role of Supabase's SQL editor and of `supabase db push`.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_as("postgres", sql)
    }

    /// Runs an SQL file as `postgres`; returns psql's messages (notices, warnings).
    pub fn psql_file(&self, path: &Path) -> String {
        let out = self
            .cmd("postgres")
            .arg("-f")
            .arg(path)
            .output()
            .expect("run psql");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "psql -f {}:\n{err}", path.display());
        err
    }

    /// Applies every launchguard migration as `postgres`, as `supabase db push` would.
    pub fn apply_migrations(&self) {
        for f in migration_files() {
            self.psql_file(&f);
        }
    }

    /// launchguard_reader's connection string (trust authentication: any password is taken,
    /// so one is set as an operator would, but the test does not depend on it).
    pub fn reader_url(&self) -> String {
        format!(
            "postgres://launchguard_reader:reader-secret@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    pub fn url_as(&self, user: &str) -> String {
        format!(
            "postgres://{user}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Connects with tokio-postgres as `user` and drives the connection on this runtime.
    pub async fn connect_as(&self, user: &str) -> tokio_postgres::Client {
        let url = self.url_as(user);
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }
}

/// An exporter config collecting every second, with the guard's state file in `dir`.
pub fn exporter_config(dir: &Path) -> PathBuf {
    let p = dir.join("launchguard.yaml");
    std::fs::write(
        &p,
        format!(
            "database:\n  interval: 1s\n  timeout: 10s\nguard:\n  state_file: {}\n",
            dir.join("guard-state.json").display()
        ),
    )
    .unwrap();
    p
}

/// `launchguard check --connect` with `cfg` against `url`: its output (it must exit 0).
pub fn check_connect(cfg: &Path, url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_launchguard"))
        .args(["check", "--connect", "--config"])
        .arg(cfg)
        .env("SUPABASE_DB_URL", url)
        .env_remove("LAUNCHGUARD_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

impl Drop for SupabasePg {
    fn drop(&mut self) {
        let _ = Command::new(up_sh())
            .env("PG_BINDIR", &self.bindir)
            .args(["stop", &self.dir])
            .output();
    }
}
