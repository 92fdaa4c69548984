// Long functions hide structure (issue 13): past clippy.toml's threshold, split. Library and
// binary code only: an integration test reads best as one scenario.
#![warn(clippy::too_many_lines)]

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use launchguard::cli::{Cli, Command};
use launchguard::config::{self, Config};

/// Exit code for usage and config errors, apart from a failed check or run.
const EXIT_CONFIG: u8 = 2;

fn load(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    match path {
        None => Ok(Config::default()),
        Some(p) => config::load_file(p).map_err(|errs| {
            for e in errs {
                eprintln!("error: {e}");
            }
            ExitCode::from(EXIT_CONFIG)
        }),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    launchguard::logging::init(cli.log_format, &cli.log_level);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = || -> Result<ExitCode, ExitCode> {
        Ok(match cli.command {
            Command::Serve {
                config,
                listen,
                web_config_file,
            } => serve(&rt, config, listen, web_config_file)?,
            Command::Check { config, connect } => check(&rt, config, connect)?,
            Command::Sql {
                config,
                reference_schema,
            } => {
                let cfg = load(config.as_deref())?;
                launchguard::out!(
                    "{}",
                    launchguard::sources::supabase::install::script(&cfg, reference_schema)
                );
                ExitCode::SUCCESS
            }
            Command::Render { config, out } => {
                let cfg = load(config.as_deref())?;
                let paths = launchguard::kit::render::write(&cfg, &out).map_err(failed)?;
                for p in paths {
                    launchguard::outln!("wrote {}", p.display());
                }
                ExitCode::SUCCESS
            }
            Command::Completions { shell } => {
                let mut cmd = Cli::command();
                clap_complete::generate(shell, &mut cmd, "launchguard", &mut std::io::stdout());
                ExitCode::SUCCESS
            }
            Command::Man { dir } => {
                launchguard::cli::man_pages(dir.as_deref()).map_err(failed)?;
                ExitCode::SUCCESS
            }
            Command::Strain(args) => {
                let cfg = load(args.config.as_deref())?;
                ExitCode::from(rt.block_on(launchguard::strain::run(cfg, args.to_args())))
            }
        })
    };
    run().unwrap_or_else(|code| code)
}

/// Prints an error and gives the failure exit code.
fn failed(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

fn serve(
    rt: &tokio::runtime::Runtime,
    config: Option<std::path::PathBuf>,
    listen: std::net::SocketAddr,
    web_config_file: Option<std::path::PathBuf>,
) -> Result<ExitCode, ExitCode> {
    let cfg = load(config.as_deref())?;
    let web = match web_config_file {
        None => launchguard::web::WebState::open(),
        Some(p) => launchguard::web::WebState::from_file(&p).map_err(|errs| {
            for e in errs {
                eprintln!("error: {e}");
            }
            ExitCode::from(EXIT_CONFIG)
        })?,
    };
    rt.block_on(launchguard::serve::run(cfg, config, listen, web))
        .map_err(failed)?;
    Ok(ExitCode::SUCCESS)
}

fn check(
    rt: &tokio::runtime::Runtime,
    config: Option<std::path::PathBuf>,
    connect: bool,
) -> Result<ExitCode, ExitCode> {
    let cfg = load(config.as_deref())?;
    launchguard::outln!(
        "config ok{}",
        config
            .map(|p| format!(": {}", p.display()))
            .unwrap_or_default()
    );
    launchguard::outln!("{}", launchguard::check::admin_api(&cfg));
    launchguard::outln!("{}", launchguard::check::guard_callers(&cfg));
    if connect && !rt.block_on(launchguard::check::connect(&cfg)) {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
