//! Entry point: parse the command line, run the command, turn the outcome
//! into an exit code (0 all accepted, 1 some file rejected, 2 fatal).

use std::process::ExitCode;

use clap::Parser;

// Many small allocations on several threads at once (cells, strings,
// rows): mimalloc's per-thread heaps spend less on them than the system
// allocator's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = baocao::cli::Cli::parse();
    baocao::app::init_logging(&cli);
    match baocao::app::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(error) => {
            eprintln!("baocao: error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(2)
        }
    }
}
