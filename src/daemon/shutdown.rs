//! Clean shutdown on SIGTERM and SIGINT. The first signal sets
//! [`crate::pipeline::ingest::STOP`]: the pass in progress stores no further
//! chunk, writes the feedback of and files what it has stored, leaves the
//! rest in the inbox for the next start, and the daemon exits 0. A second
//! signal exits at once (128 + the signal number, 143 for SIGTERM, 130 for
//! SIGINT) from inside the signal handler, for an administrator who cannot
//! wait; that is safe because a chunk of files is stored in one SQLite
//! transaction and its files are moved out of the inbox only after it
//! commits, so an abrupt exit leaves a file either stored or still waiting,
//! and a stored file still in the inbox is recognised by its sha256 and
//! filed on the next pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::Wake;
use crate::error::Error;
use crate::pipeline::ingest::STOP;

/// Set by the first termination signal; arms the immediate exit on the second.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst) || SIGNALLED.load(Ordering::SeqCst)
}

/// Installs the handlers and a thread that wakes the daemon's loop (sending
/// [`Wake::Signal`]) so a stop requested while it sleeps is not delayed.
///
/// # Errors
/// [`Error::Signals`] when a handler cannot be installed.
pub fn install(wake: Sender<Wake>) -> Result<(), Error> {
    let failed = Error::Signals;
    for signal in [SIGTERM, SIGINT] {
        // Order matters: the exit is checked before this signal arms it.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, &SIGNALLED).map_err(failed)?;
        signal_hook::flag::register(signal, &SIGNALLED).map_err(failed)?;
        signal_hook::flag::register(signal, &STOP).map_err(failed)?;
    }
    let mut signals = Signals::new([SIGTERM, SIGINT]).map_err(failed)?;
    std::thread::Builder::new()
        .name("baocao-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
                tracing::info!(
                    signal = name,
                    "Stop requested: filing the files in hand, then exiting (a second signal exits at once)"
                );
                if wake.send(Wake::Signal).is_err() {
                    break;
                }
            }
        })
        .map_err(failed)?;
    Ok(())
}
