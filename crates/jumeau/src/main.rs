//! `jumeau`: the command-line entry point of the territorial twin.
//!
//! One binary and one data directory serve a commune: `jumeau serve` runs the API,
//! `jumeau import` and `jumeau export` move territories in and out, `jumeau keys` manages
//! API keys, and `jumeau demo` opens a sample territory.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cli;
mod demo;

use clap::Parser;

/// The process allocator (see the `mimalloc` feature in Cargo.toml for why).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("JUMEAU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // Blocking threads serve store reads; a few are enough on the small machines a commune
    // runs, and each one costs memory.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
