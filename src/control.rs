//! Commands from the HTTP endpoints and signals to the running engine: reload the config,
//! start a probe's run now.
//!
//! The engine owns the receiving end and answers each command on its `oneshot`; senders
//! (SIGHUP, `POST /-/reload`, `POST /api/v1/probes/{name}/run`) only hold a [`Control`].

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// A handle that sends commands to the engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Control {
    tx: mpsc::Sender<Command>,
}

/// A command for the engine, with where to send the answer.
#[derive(Debug)]
pub enum Command {
    /// Read and apply the configuration again.
    Reload {
        /// The outcome: what changed, or why the new configuration was rejected.
        reply: oneshot::Sender<Result<ReloadSummary, ReloadError>>,
    },
    /// Start a run of a scheduled probe now.
    RunNow {
        /// The probe's name.
        probe: String,
        /// Whether the run was started.
        reply: oneshot::Sender<Result<(), RunNowError>>,
    },
}

/// What a successful reload did, by probe name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReloadSummary {
    /// Probes new in the configuration.
    pub started: Vec<String>,
    /// Probes whose definition (or target, or data) changed: stopped, then started again.
    pub restarted: Vec<String>,
    /// Probes that kept running without a gap.
    pub unchanged: Vec<String>,
    /// Probes no longer in the configuration.
    pub stopped: Vec<String>,
}

/// Why a reload was refused; the running configuration stays.
///
/// The messages are the loader's own (they name the YAML path and line), with credentials
/// masked before they reach a log, the status page or a reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReloadError {
    /// loadprobe was started without a configuration file to reload from.
    #[error("no configuration file to reload from")]
    NoSource,
    /// The configuration could not be read, parsed or validated.
    #[error("{0}")]
    Invalid(String),
    /// Reading the configuration stopped before it finished (its task panicked).
    #[error("reading the configuration failed: {0}")]
    Interrupted(String),
    /// A target's HTTP client could not be built from the new configuration.
    #[error("{0}")]
    Client(String),
    /// The engine is stopping or gone.
    #[error("loadprobe is shutting down")]
    ShuttingDown,
}

impl ReloadError {
    /// The same error with its message passed through `mask` (to hide credentials).
    pub fn masked(self, mask: impl Fn(&str) -> String) -> Self {
        match self {
            ReloadError::Invalid(message) => ReloadError::Invalid(mask(&message)),
            ReloadError::Interrupted(message) => ReloadError::Interrupted(mask(&message)),
            ReloadError::Client(message) => ReloadError::Client(mask(&message)),
            other => other,
        }
    }
}

/// Why a run could not be started now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunNowError {
    /// No probe has this name.
    #[error("no probe named {0}")]
    UnknownProbe(String),
    /// The probe is in a run (a continuous probe always is).
    #[error("probe {0} is already running")]
    AlreadyRunning(String),
    /// The engine is stopping or gone.
    #[error("loadprobe is shutting down")]
    ShuttingDown,
}

impl Control {
    /// A handle and the engine's end of the channel, holding up to `capacity` commands.
    pub fn channel(capacity: usize) -> (Control, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Control { tx }, rx)
    }

    /// Asks the engine to reload; `Err` holds why the configuration was rejected (the old
    /// one keeps running) or that the engine is gone.
    pub async fn reload(&self) -> Result<ReloadSummary, ReloadError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Command::Reload { reply }).await.is_err() {
            return Err(ReloadError::ShuttingDown);
        }
        answer.await.unwrap_or(Err(ReloadError::ShuttingDown))
    }

    /// Asks the engine to start a run of `probe` now.
    pub async fn run_now(&self, probe: &str) -> Result<(), RunNowError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::RunNow {
            probe: probe.to_owned(),
            reply,
        };
        if self.tx.send(command).await.is_err() {
            return Err(RunNowError::ShuttingDown);
        }
        answer.await.unwrap_or(Err(RunNowError::ShuttingDown))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commands_reach_the_receiver_and_replies_come_back() {
        let (control, mut commands) = Control::channel(1);
        let engine = tokio::spawn(async move {
            while let Some(command) = commands.recv().await {
                match command {
                    Command::Reload { reply } => {
                        let _ = reply.send(Err(ReloadError::Invalid("bad config".to_owned())));
                    }
                    Command::RunNow { probe, reply } => {
                        let _ = reply.send(Err(RunNowError::UnknownProbe(probe)));
                    }
                }
            }
        });
        let error = control.reload().await.err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("bad config"));
        let error = control.run_now("nope").await.err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("no probe named nope"));
        drop(control);
        assert!(engine.await.is_ok());
    }

    #[tokio::test]
    async fn a_gone_engine_means_shutting_down() {
        let (control, commands) = Control::channel(1);
        drop(commands);
        let error = control.reload().await.err();
        assert_eq!(error, Some(ReloadError::ShuttingDown));
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some("loadprobe is shutting down")
        );
        assert!(matches!(
            control.run_now("a").await,
            Err(RunNowError::ShuttingDown)
        ));
    }
}
