//! Containing a panic inside a spreadsheet reader. A reader bug on a
//! hostile file must cost that one file, not the batch — and must not reach
//! the statistician's terminal either: the file's own message (rule 1,
//! "corrupt") says all they need. The panic's text goes to the log once, at
//! debug level, inside the span that names the file.
//!
//! Rust prints a panic through the process-wide hook before `catch_unwind`
//! returns, so the hook is replaced once by one that stays quiet on a thread
//! that is inside [`contain`] and hands every other panic (a bug elsewhere,
//! which must be seen) to the hook it replaced.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    static CONTAINING: Cell<bool> = const { Cell::new(false) };
    static CONTAINED: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    match info.location() {
        Some(at) => format!("{payload} (at {}:{})", at.file(), at.line()),
        None => payload,
    }
}

fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINING.with(Cell::get) {
                CONTAINED.with(|c| *c.borrow_mut() = Some(describe(info)));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `work`; a panic inside it becomes `Err` with its text, logged at
/// debug level and never printed.
pub(crate) fn contain<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    let was = CONTAINING.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(work));
    CONTAINING.with(|c| c.set(was));
    result.map_err(|_| {
        let text = CONTAINED
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".into());
        tracing::debug!(panic = %text, "A spreadsheet reader failed on the file; it is read as corrupt");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The child half of the test below: panics inside `contain` when the
    /// parent asks, and says whether it came back.
    #[test]
    fn contained_panic_child() {
        if std::env::var_os("BAOCAO_CONTAINED_PANIC_CHILD").is_none() {
            return;
        }
        let outcome = contain(|| -> u32 { panic!("reader exploded on key 42") });
        assert_eq!(outcome.err().map(|t| t.contains("key 42")), Some(true));
        println!("child came back");
    }

    #[test]
    fn a_panic_inside_a_reader_reaches_neither_the_terminal_nor_the_batch() {
        let Ok(me) = std::env::current_exe() else {
            panic!("no test executable");
        };
        let output = std::process::Command::new(me)
            .args([
                "--exact",
                "pipeline::read::contain::tests::contained_panic_child",
                "--nocapture",
            ])
            .env("BAOCAO_CONTAINED_PANIC_CHILD", "1")
            .env("RUST_BACKTRACE", "1")
            .output();
        let Ok(output) = output else {
            panic!("cannot run the child")
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("child came back"), "{stdout}");
        assert!(
            !stderr.contains("reader exploded"),
            "the panic text reached the terminal: {stderr}"
        );
        assert!(!stderr.contains("stack backtrace"), "{stderr}");
        assert!(!stdout.contains("reader exploded"), "{stdout}");
    }

    #[test]
    fn a_panic_outside_contain_still_reaches_the_previous_hook() {
        install_quiet_hook();
        // Not inside `contain`: the flag is off, so the quiet hook passes
        // the panic on (what the daemon relies on to log bugs).
        assert!(!CONTAINING.with(Cell::get));
        let inside = contain(|| CONTAINING.with(Cell::get));
        assert_eq!(inside, Ok(true));
        assert!(!CONTAINING.with(Cell::get), "the flag is restored");
    }
}
