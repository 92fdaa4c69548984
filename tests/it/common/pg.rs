//! A throwaway PostgreSQL 15 (with pg_cron) for integration tests.
//!
//! `TestPg::start()` runs initdb in a temporary directory, starts postgres on 127.0.0.1 at a free
//! port (unix socket inside the temporary directory), applies `tests/fixtures/supabase_platform.sql`
//! (Supabase's storage schema and pg_cron), every file of `deploy/supabase/migrations` in name
//! order, and with `start_seeded()` also `deploy/supabase/seed.sql`. When the test runs as root
//! the server runs as the `postgres` system user (or `nobody`), since postgres refuses root.
//!
//! A missing PostgreSQL 15 or pg_cron makes the test panic with the Debian package to install;
//! it never passes silently. Set `LAUNCHGUARD_PG_BINDIR` to use other binaries.
//!
//! pg_cron runs with `cron.log_run = off`, so its own runs never add rows to
//! `cron.job_run_details`: the seeded runs stay exactly as seeded.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use super::port::free_port;

/// Options for [`TestPg::start_with`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Apply deploy/supabase/seed.sql after the migrations.
    pub seed: bool,
    /// Preload pg_cron and create the extension (false: a database without pg_cron).
    pub pg_cron: bool,
    /// Preload pg_stat_statements and create the extension (what a test counts queries with).
    pub stat_statements: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            seed: false,
            pg_cron: true,
            stat_statements: false,
        }
    }
}

pub struct TestPg {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    run_as: Option<String>,
    port: u16,
    superuser_password: String,
    reader_password: String,
    running: bool,
}

const DB: &str = "postgres";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn find_bindir() -> PathBuf {
    let mut tried = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(d) = std::env::var("LAUNCHGUARD_PG_BINDIR") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(PathBuf::from("/usr/lib/postgresql/15/bin"));
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    for dir in candidates {
        let postgres = dir.join("postgres");
        tried.push(dir.display().to_string());
        if !postgres.is_file() || !dir.join("initdb").is_file() || !dir.join("psql").is_file() {
            continue;
        }
        if let Ok(out) = Command::new(&postgres).arg("--version").output()
            && String::from_utf8_lossy(&out.stdout).contains(" 15.")
        {
            return dir;
        }
    }
    panic!(
        "PostgreSQL 15 server binaries (postgres, initdb, psql) not found in {}: \
         install the Debian package postgresql-15 (apt-get install -y postgresql-15 postgresql-15-cron) \
         or set LAUNCHGUARD_PG_BINDIR",
        tried.join(", ")
    );
}

fn pg_config(bindir: &Path, arg: &str, default: &str) -> PathBuf {
    Command::new(bindir.join("pg_config"))
        .arg(arg)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| PathBuf::from(default))
}

fn require_pg_cron(bindir: &Path) {
    let control = pg_config(bindir, "--sharedir", "/usr/share/postgresql/15")
        .join("extension/pg_cron.control");
    let lib = pg_config(bindir, "--pkglibdir", "/usr/lib/postgresql/15/lib").join("pg_cron.so");
    if !control.is_file() || !lib.is_file() {
        panic!(
            "pg_cron is not installed ({} / {} missing): install the Debian package postgresql-15-cron \
             (apt-get install -y postgresql-15-cron)",
            control.display(),
            lib.display()
        );
    }
}

fn is_root() -> bool {
    // std has no geteuid: the owner of /proc/self is the effective user.
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// (name, uid, gid) of a system user from /etc/passwd.
fn lookup_user(name: &str) -> Option<(String, u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == name {
            Some((name.to_string(), f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    })
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

fn secret(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}{:x}{:x}", nanos, std::process::id())
}

fn check(what: &str, out: Output) -> Output {
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Minutes after 00:00 UTC in which deploy/supabase/seed.sql cannot lay out its documented
/// figures: it anchors "today" to the UTC day, and a day that began a few minutes ago cannot hold
/// a 15-minute spend window plus the traffic minutes before it.
const SEED_MIDNIGHT_WINDOW_S: u64 = 16 * 60;

/// Seeded tests assert the seed's exact figures, so one that starts just after midnight UTC waits
/// until the day is long enough, rather than failing for a quarter of an hour a day.
fn wait_past_the_seeds_midnight_window() {
    let into_day = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        % 86_400;
    if into_day < SEED_MIDNIGHT_WINDOW_S {
        let wait = SEED_MIDNIGHT_WINDOW_S - into_day + 1;
        eprintln!(
            "seed.sql's figures are exact from 00:16 UTC on; waiting {wait} s before seeding"
        );
        std::thread::sleep(std::time::Duration::from_secs(wait));
    }
}

impl TestPg {
    /// Platform stubs, pg_cron and the migrations; no sample data.
    pub fn start() -> TestPg {
        Self::start_with(PgOptions::default())
    }

    /// Platform stubs, pg_cron, the migrations and deploy/supabase/seed.sql.
    pub fn start_seeded() -> TestPg {
        Self::start_with(PgOptions {
            seed: true,
            ..PgOptions::default()
        })
    }

    pub fn start_with(opts: PgOptions) -> TestPg {
        let bindir = find_bindir();
        if opts.pg_cron {
            require_pg_cron(&bindir);
        }
        let dir = tempfile::Builder::new()
            .prefix("launchguard-pg-")
            .tempdir()
            .expect("tempdir");
        let run_as = if is_root() {
            let user = ["postgres", "nobody"]
                .iter()
                .find_map(|u| lookup_user(u))
                .expect("running as root and neither the 'postgres' nor the 'nobody' user exists");
            Some(user)
        } else {
            None
        };
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        fs::create_dir(&sock).unwrap();
        let superuser_password = secret("su");
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, format!("{superuser_password}\n")).unwrap();
        if let Some((_, uid, gid)) = &run_as {
            chown_tree(dir.path(), *uid, *gid);
        }
        let mut pg = TestPg {
            dir,
            bindir,
            run_as: run_as.map(|(name, _, _)| name),
            port: free_port(),
            superuser_password,
            reader_password: secret("rd"),
            running: false,
        };
        let out = pg
            .server_cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["-E", "UTF8", "--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        check("initdb", out);
        let mut conf = format!(
            "\n# launchguard test server\nlisten_addresses = '127.0.0.1'\nport = {}\n\
             unix_socket_directories = '{}'\nmax_connections = 50\nshared_buffers = 32MB\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            pg.port,
            sock.display()
        );
        let mut preload = Vec::new();
        if opts.pg_cron {
            preload.push("pg_cron");
            conf.push_str(&format!(
                "cron.database_name = '{DB}'\n\
                 cron.log_run = off\ncron.use_background_workers = on\nmax_worker_processes = 16\n"
            ));
        }
        if opts.stat_statements {
            preload.push("pg_stat_statements");
        }
        if !preload.is_empty() {
            conf.push_str(&format!(
                "shared_preload_libraries = '{}'\n",
                preload.join(",")
            ));
        }
        let conf_path = data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf_path).unwrap();
        text.push_str(&conf);
        fs::write(&conf_path, text).unwrap();
        pg.start_again();

        let root = repo_root();
        pg.psql_file(&root.join("tests/fixtures/supabase_platform.sql"));
        if opts.pg_cron {
            let has = pg.psql_query("select count(*) from pg_extension where extname = 'pg_cron'");
            assert_eq!(
                has.trim(),
                "1",
                "pg_cron could not be created: install the Debian package postgresql-15-cron"
            );
        }
        let mut migrations: Vec<PathBuf> = fs::read_dir(root.join("deploy/supabase/migrations"))
            .expect("deploy/supabase/migrations")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        migrations.sort();
        for m in &migrations {
            pg.psql_file(m);
        }
        if opts.seed {
            wait_past_the_seeds_midnight_window();
            pg.psql_file(&root.join("deploy/supabase/seed.sql"));
        }
        if opts.stat_statements {
            pg.psql_query("create extension if not exists pg_stat_statements");
        }
        let pw = pg.reader_password.clone();
        pg.psql_query(&format!(
            "alter role launchguard_reader with password '{pw}'"
        ));
        pg
    }

    fn server_cmd(&self, program: &str) -> Command {
        let bin = self.bindir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin);
                c
            }
            None => Command::new(bin),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn psql(&self) -> Command {
        let mut c = Command::new(self.bindir.join("psql"));
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path().join("sock"))
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", DB]);
        c
    }

    /// Runs an SQL file as the superuser; panics with psql's output on error.
    pub fn psql_file(&self, path: &Path) {
        let out = self.psql().arg("-f").arg(path).output().expect("run psql");
        check(&format!("psql -f {}", path.display()), out);
    }

    /// Runs SQL as the superuser and returns the unaligned, tuples-only output.
    pub fn psql_query(&self, sql: &str) -> String {
        let out = self
            .psql()
            .args(["-A", "-t", "-c", sql])
            .output()
            .expect("run psql");
        String::from_utf8_lossy(&check(&format!("psql -c {sql}"), out).stdout).into_owned()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn database(&self) -> &str {
        DB
    }

    /// postgres://postgres:…@127.0.0.1:PORT/postgres (superuser).
    pub fn superuser_url(&self) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{DB}?sslmode=disable",
            self.superuser_password, self.port
        )
    }

    /// postgres://launchguard_reader:…@127.0.0.1:PORT/postgres (the read-only role).
    pub fn reader_url(&self) -> String {
        format!(
            "postgres://launchguard_reader:{}@127.0.0.1:{}/{DB}?sslmode=disable",
            self.reader_password, self.port
        )
    }

    /// Connects with tokio-postgres (no TLS) and drives the connection on the current runtime.
    pub async fn connect(url: &str) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    pub async fn connect_reader(&self) -> tokio_postgres::Client {
        Self::connect(&self.reader_url()).await
    }

    pub async fn connect_superuser(&self) -> tokio_postgres::Client {
        Self::connect(&self.superuser_url()).await
    }

    /// Stops the server (fast shutdown: open connections are closed). Data stays.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let out = self
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .expect("run pg_ctl stop");
        check("pg_ctl stop", out);
        self.running = false;
    }

    /// Starts the server again on the same data directory and port.
    pub fn start_again(&mut self) {
        if self.running {
            return;
        }
        let log = self.dir.path().join("server.log");
        let out = self
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .output()
            .expect("run pg_ctl start");
        if !out.status.success() {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "postgres did not start on 127.0.0.1:{}:\n{}\n{}\nserver log:\n{tail}",
                self.port,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.running = true;
    }

    /// Turns on TLS with the given PEM certificate and key (written into the data directory,
    /// owned by the server user with mode 0600, as PostgreSQL requires) and reloads.
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt;
        let data = self.data_dir();
        let (cert, key) = (data.join("server.crt"), data.join("server.key"));
        fs::write(&cert, cert_pem).unwrap();
        fs::write(&key, key_pem).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        if let Some((_, uid, gid)) = self.run_as.as_deref().and_then(lookup_user) {
            chown_tree(&cert, uid, gid);
            chown_tree(&key, uid, gid);
        }
        self.psql_query("alter system set ssl = on");
        self.psql_query("select pg_reload_conf()");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    pub fn is_running(&self) -> bool {
        self.running
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}
