use std::process::ExitCode;

use clap::Parser;

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
    match cli.command {
        Command::Serve { config, listen } => {
            let cfg = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match rt.block_on(launchguard::serve::run(cfg, config, listen)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { config, connect } => {
            let cfg = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            println!(
                "config ok{}",
                config
                    .map(|p| format!(": {}", p.display()))
                    .unwrap_or_default()
            );
            if connect && !rt.block_on(launchguard::check::connect(&cfg)) {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Command::Strain(args) => {
            let cfg = match load(args.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            ExitCode::from(rt.block_on(launchguard::strain::run(cfg, args.to_args())))
        }
    }
}
