//! Entry point: parse the command line, run the command, turn the outcome
//! into an exit code (0 all accepted, 1 some file rejected, 2 fatal).

use std::process::ExitCode;

use clap::Parser;

// Many small allocations on several threads at once (cells, strings,
// rows): mimalloc's per-thread heaps spend less on them than the system
// allocator's arenas. Built without asking for transparent huge pages
// (`no_thp` in Cargo.toml): memory first touched in 2 MB pages cost a
// report run after an ingest 0.4-1.2 s of kernel time zeroing pages it
// mostly did not use, against about 0.1 s in 4 KB pages.
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
