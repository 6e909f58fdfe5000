//! The `falconry` binary: parse the command line and hand each subcommand to
//! its module in `command/`. Only dispatch lives here; a configuration error
//! exits 64 (EX_USAGE: fix the config, do not restart in a loop), any other
//! failure 1.

mod cli;
mod command;
mod config;
mod demo;
mod progress;

use clap::Parser;
use cli::{Cli, Command, PolicyCommand};
use falconry_common::config::ConfigError;
use std::process::ExitCode;

/// Exit code of a configuration error (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.chain().any(|c| c.downcast_ref::<ConfigError>().is_some()) {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config.as_deref();
    match cli.command {
        Command::Forward(args) => command::forward::run(file, args).await,
        Command::Stream(args) => command::stream::run(file, args).await,
        Command::Enrich(args) => command::enrich::run(file, args).await,
        Command::Policy(PolicyCommand::Eval {
            input,
            policy,
            data,
        }) => command::policy::eval(file, &input, policy, data),
        Command::Rules(c) => command::rules::run(file, c).await,
        Command::Hunt(args) => command::hunt::run(file, args).await,
        Command::Report(args) => command::report::run(file, args).await,
        Command::CheckConfig => command::check_config::run(file).await,
        Command::Demo(args) => demo::run(&args.dir).await,
        Command::Convert(args) => command::convert::run(args).await,
        Command::Fixtures(c) => command::fixtures::run(c),
        Command::Schema(c) => command::schema::run(c),
        Command::Healthcheck(args) => command::healthcheck::run(file, args).await,
    }
}
