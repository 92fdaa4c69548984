//! The command line: one binary, one subcommand per job.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The port launchguard listens on by default (see README: port choice).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10071";

#[derive(Debug, Parser)]
#[command(
    name = "launchguard",
    version,
    about = "Keeps an AI SaaS platform inside its tier, budget and queue while it grows"
)]
pub struct Cli {
    /// Log format: text for a terminal, json for a log pipeline.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, e.g. info or launchguard=debug (RUST_LOG works too).
    #[arg(long, global = true, env = "LAUNCHGUARD_LOG", default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the exporter: collect in the background, serve /metrics, /healthz and /readyz.
    Serve {
        /// Config file (YAML); without one every default of the brief applies.
        #[arg(long, env = "LAUNCHGUARD_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Web config in the exporter-toolkit format: TLS, client certificates, basic auth.
        #[arg(long = "web.config.file", env = "LAUNCHGUARD_WEB_CONFIG_FILE")]
        web_config_file: Option<PathBuf>,
    },
    /// Validate a config file; with --connect, run every source once and report each figure.
    Check {
        #[arg(long, env = "LAUNCHGUARD_CONFIG")]
        config: Option<PathBuf>,
        /// Reach every configured source once.
        #[arg(long)]
        connect: bool,
    },
    /// Write the Prometheus rules (and their promtool tests), Grafana dashboards, Alertmanager
    /// and Prometheus config and runbooks from a config, so every threshold has one source.
    Render {
        #[arg(long, env = "LAUNCHGUARD_CONFIG")]
        config: Option<PathBuf>,
        /// Folder to write rules/, dashboards/, deploy/alertmanager/, deploy/prometheus/ and
        /// docs/runbooks.md under.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a shell completion script: launchguard completions bash > /etc/bash_completion.d/launchguard
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff); with --dir, write one page per command into DIR.
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Writes the man page to stdout, or with `dir` one page per command (`launchguard.1`,
/// `launchguard-serve.1`, ...), all made from the clap definition so they never drift.
pub fn man_pages(dir: Option<&std::path::Path>) -> std::io::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let Some(dir) = dir else {
        return clap_mangen::Man::new(cmd).render(&mut std::io::stdout());
    };
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::File::create(dir.join("launchguard.1"))?;
    clap_mangen::Man::new(cmd.clone()).render(&mut f)?;
    for sub in cmd.get_subcommands() {
        let name = format!("launchguard-{}", sub.get_name());
        let mut f = std::fs::File::create(dir.join(format!("{name}.1")))?;
        clap_mangen::Man::new(sub.clone())
            .title(name.clone())
            .render(&mut f)?;
    }
    Ok(())
}
