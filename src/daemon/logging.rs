//! The daemon's logs. Unlike the interactive commands (warnings only, set
//! up in `app::init_logging`), a server logs at info by default so the
//! journal shows every file taken and every scheduled run; `-v` adds the
//! findings, `RUST_LOG` overrides both. Lines go to standard error (human
//! or `--log-format json` for log collectors) and, when `[daemon] log_dir`
//! is set, also to a file per day (`baocao.YYYY-MM-DD.log`, UTC dates) of
//! which the last `log_keep_days` are kept, for offices without a log
//! collector.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

use crate::config::Settings;
use crate::error::Error;

/// Sets up logging for the daemon; returns the log folder in use, if any.
///
/// # Errors
/// [`Error::Config`] when the log folder cannot be created or opened.
pub fn init(settings: &Settings, verbose: u8, json: bool) -> Result<Option<std::path::PathBuf>, Error> {
    let level = if verbose == 0 { "info" } else { "debug" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("baocao={level}")));
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    layers.push(if json {
        fmt::layer().json().with_writer(std::io::stderr).boxed()
    } else {
        fmt::layer()
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed()
    });
    let config = &settings.config.daemon;
    let dir = if config.log_dir.as_os_str().is_empty() {
        None
    } else if config.log_dir.is_absolute() {
        Some(config.log_dir.clone())
    } else {
        Some(settings.paths.root.join(&config.log_dir))
    };
    if let Some(dir) = &dir {
        let problem = |message: String| Error::Config {
            path: settings.paths.root.join(crate::config::CONFIG_FILE),
            problems: vec![format!("[daemon] log_dir {}: {message}", dir.display())],
        };
        std::fs::create_dir_all(dir).map_err(|e| problem(e.to_string()))?;
        let mut builder = tracing_appender::rolling::RollingFileAppender::builder()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("baocao")
            .filename_suffix("log");
        if config.log_keep_days > 0 {
            builder = builder.max_log_files(config.log_keep_days);
        }
        let appender = builder.build(dir).map_err(|e| problem(e.to_string()))?;
        layers.push(if json {
            fmt::layer().json().with_writer(appender).boxed()
        } else {
            fmt::layer()
                .with_target(false)
                .with_ansi(false)
                .with_writer(appender)
                .boxed()
        });
    }
    // A subscriber already set (the library used inside a test harness)
    // keeps logging where it was: not worth failing the daemon for.
    let _ = tracing_subscriber::registry().with(layers).with(filter).try_init();
    Ok(dir)
}
