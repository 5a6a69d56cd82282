use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = xtask::cli::Cli::parse();
    match xtask::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
