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
    match cli.command {
        Command::Serve {
            config,
            listen,
            web_config_file,
        } => {
            let cfg = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let web = match web_config_file {
                None => launchguard::web::WebState::open(),
                Some(p) => match launchguard::web::WebState::from_file(&p) {
                    Ok(w) => w,
                    Err(errs) => {
                        for e in errs {
                            eprintln!("error: {e}");
                        }
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
            };
            match rt.block_on(launchguard::serve::run(cfg, config, listen, web)) {
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
            println!("{}", launchguard::check::admin_api(&cfg));
            println!("{}", launchguard::check::guard_callers(&cfg));
            if connect && !rt.block_on(launchguard::check::connect(&cfg)) {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Command::Sql {
            config,
            reference_schema,
        } => {
            let cfg = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            print!(
                "{}",
                launchguard::sources::supabase::install::script(&cfg, reference_schema)
            );
            ExitCode::SUCCESS
        }
        Command::Render { config, out } => {
            let cfg = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match launchguard::kit::render::write(&cfg, &out) {
                Ok(paths) => {
                    for p in paths {
                        println!("wrote {}", p.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "launchguard", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man { dir } => match launchguard::cli::man_pages(dir.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Strain(args) => {
            let cfg = match load(args.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            ExitCode::from(rt.block_on(launchguard::strain::run(cfg, args.to_args())))
        }
    }
}
