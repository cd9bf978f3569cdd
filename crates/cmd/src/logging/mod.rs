//! Logging as oslo.log configures it from `[DEFAULT]`: `debug` sets the
//! level, `log_file` (under `log_dir`) redirects from standard error,
//! `use_json` writes JSON, `use_syslog` and `use_journal` also send every
//! record to syslog / systemd's journal. Options that cannot be honoured
//! (`log_config_append`, the daemon's own rotation) stop start-up with one
//! line instead of being ignored. SIGHUP re-opens the log file and takes
//! the level from the files again ([`Logging::reload_on_hangup`]).
//! `RUST_LOG` overrides the level for troubleshooting.

mod file;
mod syslog;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};
use tricircle_config::{Config, DefaultOptions};

pub use file::LogFile;

use crate::args::ConfigArgs;

type Filtered = tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type BoxedLayer = Box<dyn Layer<Filtered> + Send + Sync>;

/// The running logging set-up. Keep it alive: dropping it flushes and stops
/// the writer thread.
pub struct Logging {
    reloader: Reloader,
}

/// The writer thread's guard. Held here rather than in [`Logging`] so that
/// [`flush`] can reach it from an exit path that never returns.
static GUARD: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Write out every queued record and stop the writer thread; what is logged
/// afterwards is lost. For an exit: the records land before a final line
/// printed after this call.
pub fn flush() {
    let guard = GUARD.lock().unwrap_or_else(|p| p.into_inner()).take();
    drop(guard);
}

impl Drop for Logging {
    fn drop(&mut self) {
        flush();
    }
}

/// What SIGHUP changes. Cheap to clone.
#[derive(Clone)]
pub struct Reloader {
    filter: reload::Handle<EnvFilter, Registry>,
    file: Option<LogFile>,
    /// Where the configuration came from, to read it again.
    source: Option<(ConfigArgs, String)>,
}

/// The level `debug` asks for, unless `RUST_LOG` says otherwise.
fn filter_for(debug: bool) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let level = if debug { "debug" } else { "info" };
        EnvFilter::new(format!("{level},h2=info,hyper=info,rustls=info"))
    })
}

/// The log file the options name, if any.
pub fn log_path(d: &DefaultOptions, program: &str) -> Option<PathBuf> {
    match (&d.log_dir, &d.log_file) {
        (Some(dir), Some(file)) => Some(PathBuf::from(dir).join(file)),
        (None, Some(file)) => Some(PathBuf::from(file)),
        (Some(dir), None) => Some(PathBuf::from(dir).join(format!("{program}.log"))),
        (None, None) => None,
    }
}

/// Refuse what would otherwise be silently ignored.
fn check_supported(d: &DefaultOptions, program: &str) -> Result<(), String> {
    if let Some(path) = &d.log_config_append {
        return Err(format!(
            "[DEFAULT] log_config_append = {path}: {program} cannot read a Python logging \
             configuration; remove it and use debug, log_file, log_dir, use_syslog, \
             use_journal or use_json (RUST_LOG for per-module levels)"
        ));
    }
    if !d.log_rotation_type.eq_ignore_ascii_case("none") {
        return Err(format!(
            "[DEFAULT] log_rotation_type = {}: {program} does not rotate its own logs; set it \
             to none and rotate with logrotate, which sends SIGHUP to re-open the file",
            d.log_rotation_type
        ));
    }
    Ok(())
}

fn format_layer<W>(json: bool, writer: W) -> BoxedLayer
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false);
    if json {
        layer.json().boxed()
    } else {
        layer.boxed()
    }
}

/// Lines queued for the log writer thread before new ones are dropped.
/// tracing-appender's default (128,000) allocates and touches its whole
/// ring up front: 4 MiB, most of the API's idle heap. 8,192 lines still
/// absorb a second of the access log at 8,000 requests/s while the writer
/// (a write per line, some 300,000 lines/s to a file) is held up.
const BUFFERED_LINES: usize = 8_192;

/// Set up logging as `program` from `config`, or say why it cannot be.
pub fn init(config: &Config, program: &str) -> Result<Logging, String> {
    let d = &config.default;
    check_supported(d, program)?;
    let (filter, handle) = reload::Layer::new(filter_for(d.debug));
    let file = log_path(d, program)
        .map(|path| {
            LogFile::open(path.clone(), d.watch_log_file)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))
        })
        .transpose()?;
    let buffer = || {
        tracing_appender::non_blocking::NonBlockingBuilder::default()
            .buffered_lines_limit(BUFFERED_LINES)
    };
    let (writer, guard) = match &file {
        Some(f) => buffer().finish(f.clone()),
        None => buffer().finish(std::io::stderr()),
    };
    let mut layers: Vec<BoxedLayer> = vec![format_layer(d.use_json, writer)];
    if d.use_syslog {
        let facility = syslog::facility(&d.syslog_log_facility)?;
        let sink =
            syslog::Syslog::connect(syslog::SOCKET.as_ref(), facility, program).map_err(|e| {
                format!(
                    "[DEFAULT] use_syslog = true, but {} cannot be reached: {e}",
                    syslog::SOCKET
                )
            })?;
        // The syslog daemon stamps the time and the tag names the program.
        layers.push(
            tracing_subscriber::fmt::layer()
                .with_writer(sink)
                .with_ansi(false)
                .without_time()
                .boxed(),
        );
    }
    if d.use_journal {
        let journal = tracing_journald::layer().map_err(|e| {
            format!("[DEFAULT] use_journal = true, but systemd's journal cannot be reached: {e}")
        })?;
        layers.push(journal.with_syslog_identifier(program.to_owned()).boxed());
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))?;
    *GUARD.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
    Ok(Logging {
        reloader: Reloader {
            filter: handle,
            file,
            source: None,
        },
    })
}

impl Logging {
    /// Remember where the configuration came from, for SIGHUP.
    pub fn with_source(mut self, args: ConfigArgs, program: &str) -> Logging {
        self.reloader.source = Some((args, program.to_owned()));
        self
    }

    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Install the SIGHUP handler now (so a SIGHUP during start-up does
    /// not kill the daemon, as the default action would) and return the
    /// task that applies [`Reloader::reload`] on each one. Needs a tokio
    /// runtime; spawn the task on it.
    pub fn reload_on_hangup(&self) -> std::io::Result<impl Future<Output = ()> + 'static> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        let reloader = self.reloader();
        Ok(async move {
            while hup.recv().await.is_some() {
                tracing::info!(signal = "SIGHUP", "reloading");
                reloader.reload();
            }
        })
    }
}

impl Reloader {
    /// What SIGHUP does: re-open the log file, read the files again and
    /// take the level from them (the command line still wins). A file that
    /// no longer loads keeps the running level and says why.
    pub fn reload(&self) {
        if let Some(file) = &self.file {
            match file.reopen() {
                Ok(()) => tracing::info!(path = %file.path().display(), "log file re-opened"),
                Err(e) => tracing::error!(
                    path = %file.path().display(),
                    error = %e,
                    "cannot re-open the log file; still writing to the old one"
                ),
            }
        }
        let Some((args, program)) = &self.source else {
            return;
        };
        match args.load(program) {
            Ok((config, _)) => {
                let on = config.default.debug;
                match self.filter.reload(filter_for(on)) {
                    Ok(()) => {
                        tracing::info!(debug = on, "configuration re-read; log level applied")
                    }
                    Err(e) => tracing::error!(error = %e, "cannot change the log level"),
                }
            }
            Err(e) => tracing::error!(
                error = %e,
                "configuration re-read failed on SIGHUP; keeping the running settings"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(ini: &str) -> DefaultOptions {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.conf");
        std::fs::write(&p, ini).unwrap();
        Config::load(&[p]).unwrap().0.default
    }

    #[test]
    fn unsupported_options_are_refused_by_name() {
        let d = defaults("[DEFAULT]\nlog_config = /etc/tricircle/logging.conf\n");
        let e = check_supported(&d, "tricircle-api").unwrap_err();
        assert!(
            e.contains("log_config_append") && e.contains("logging.conf"),
            "{e}"
        );
        let d = defaults("[DEFAULT]\nlog_rotation_type = size\n");
        let e = check_supported(&d, "tricircle-xjob").unwrap_err();
        assert!(e.contains("log_rotation_type = size"), "{e}");
        let d = defaults("[DEFAULT]\nlog_rotation_type = None\n");
        assert_eq!(check_supported(&d, "x"), Ok(()));
    }

    #[test]
    fn log_path_as_oslo_log() {
        let d = defaults("[DEFAULT]\nlog_dir = /var/log/tricircle\n");
        assert_eq!(
            log_path(&d, "tricircle-api"),
            Some(PathBuf::from("/var/log/tricircle/tricircle-api.log"))
        );
        let d = defaults("[DEFAULT]\nlogfile = a.log\nlogdir = /l\n");
        assert_eq!(log_path(&d, "x"), Some(PathBuf::from("/l/a.log")));
        assert_eq!(log_path(&defaults(""), "x"), None);
    }
}
