use clap::Parser;
use std::process::ExitCode;
use warren_perf::cli::Cli;

fn main() -> ExitCode {
    let cfg = match Cli::parse().validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warren-perf: {e}");
            return ExitCode::from(2);
        }
    };
    if cfg.connections.is_some() {
        return match warren_perf::idle::run(&cfg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("warren-perf: error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match warren_perf::run::run(&cfg) {
        Ok(s) => {
            if cfg.json {
                println!("{}", s.to_json());
            } else {
                print!("{}", s.to_text());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("warren-perf: error: {e}");
            ExitCode::FAILURE
        }
    }
}
