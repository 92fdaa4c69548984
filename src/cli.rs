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
    /// Print the SQL that installs or upgrades launchguard in the database, for this config:
    /// paste it into Supabase's SQL editor or save it under supabase/migrations/ (run as
    /// postgres; running it again is harmless). See docs/supabase.md.
    Sql {
        #[arg(long, env = "LAUNCHGUARD_CONFIG")]
        config: Option<PathBuf>,
        /// Also create launchguard's reference tables (clients, ai_usage_events, jobs,
        /// http_traffic_minutely), for a platform without tables of its own for these figures.
        #[arg(long)]
        reference_schema: bool,
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
    /// Run strain scenarios against a base URL on an open (arrival-rate) model; exit 0 when the
    /// suite passes, 1 when it fails, 2 for usage, config or target errors.
    Strain(StrainArgs),
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

/// Flags of `launchguard strain` (see docs/strain.md).
#[derive(Debug, clap::Args)]
pub struct StrainArgs {
    /// Base URL of the platform under test (loopback or private unless allow-listed).
    #[arg(long)]
    pub base_url: String,
    /// Scenario to run (repeatable) instead of a suite.
    #[arg(long = "scenario", value_enum, conflicts_with = "suite")]
    pub scenarios: Vec<ScenarioArg>,
    /// Percent of full intensity for every scenario (overrides the suite's).
    #[arg(long)]
    pub intensity: Option<f64>,
    /// Duration of every scenario, e.g. 30s or 2m (overrides the suite's).
    #[arg(long, value_parser = parse_dur)]
    pub duration: Option<std::time::Duration>,
    /// Suite to run; without --suite or --scenario, the suite of the next tier.
    #[arg(long, value_enum)]
    pub suite: Option<SuiteArg>,
    #[arg(long, env = "LAUNCHGUARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the JSON report goes (default: strain.report_dir).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Also write JUnit XML here (one test case per scenario threshold).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Push the results to this Prometheus Pushgateway.
    #[arg(long)]
    pub pushgateway: Option<String>,
    /// Read the memory of the system under test from this Prometheus (strain.memory_query).
    #[arg(long)]
    pub prometheus_url: Option<String>,
    /// Ramp each scenario's arrival rate in steps until a threshold breaks and report the
    /// highest rate that passed (strain.capacity; --intensity sets the first step, --duration
    /// each step's length).
    #[arg(long)]
    pub find_capacity: bool,
}

fn parse_dur(s: &str) -> Result<std::time::Duration, crate::config::DurationError> {
    crate::config::Dur::parse(s).map(|d| d.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum SuiteArg {
    HardLaunch,
    Growth,
}

impl SuiteArg {
    pub fn tier(self) -> crate::config::TierName {
        match self {
            SuiteArg::HardLaunch => crate::config::TierName::HardLaunch,
            SuiteArg::Growth => crate::config::TierName::Growth,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ScenarioArg {
    AiLoad,
    VisualJobs,
    ConcurrentUsers,
    QueueFlood,
    FullSystem,
}

impl ScenarioArg {
    pub fn name(self) -> crate::config::ScenarioName {
        use crate::config::ScenarioName as S;
        match self {
            ScenarioArg::AiLoad => S::AiLoad,
            ScenarioArg::VisualJobs => S::VisualJobs,
            ScenarioArg::ConcurrentUsers => S::ConcurrentUsers,
            ScenarioArg::QueueFlood => S::QueueFlood,
            ScenarioArg::FullSystem => S::FullSystem,
        }
    }
}

impl StrainArgs {
    /// The library's view of the flags.
    pub fn to_args(&self) -> crate::strain::Args {
        crate::strain::Args {
            base_url: self.base_url.clone(),
            selection: crate::strain::scenario::Selection {
                suite: self.suite.map(SuiteArg::tier),
                scenarios: self.scenarios.iter().map(|s| s.name()).collect(),
                intensity: self.intensity,
                duration: self.duration,
            },
            report_dir: self.report_dir.clone(),
            junit: self.junit.clone(),
            pushgateway: self.pushgateway.clone(),
            prometheus_url: self.prometheus_url.clone(),
            find_capacity: self.find_capacity,
        }
    }
}
