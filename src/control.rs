//! Commands from the HTTP endpoints and signals to the running engine: reload the config, start a probe's run now.
//!
//! The HTTP side (`POST /-/reload`, `POST /api/v1/probes/{name}/run`) holds a [`Control`]
//! and awaits the engine's answer on a `oneshot`; the engine owns the [`Command`] receiver
//! (goose's command-with-reply pattern, STYLE.md §8 rule 7).
//!
//! Adding a new command: add a [`Command`] variant with a `reply` sender, a method on
//! [`Control`] that sends it and awaits the reply, the engine's handling of it, and the
//! endpoint (or signal) that calls the method.

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// The sending side of the engine's command channel; cheap to clone, one per caller.
#[derive(Debug, Clone)]
pub struct Control {
    /// Where commands go; the engine holds the receiver.
    tx: mpsc::Sender<Command>,
}

/// One request to the engine, with the channel its answer goes back on.
#[derive(Debug)]
pub enum Command {
    /// Re-read the config file and apply it (start, restart, stop probes).
    Reload {
        /// Receives what changed, or why the new config was rejected.
        reply: oneshot::Sender<Result<ReloadSummary, String>>,
    },
    /// Start a run of one probe now, outside its schedule.
    RunNow {
        /// The probe's name, as in the config.
        probe: String,
        /// Receives whether the run was started.
        reply: oneshot::Sender<Result<(), RunNowError>>,
    },
}

/// What a successful reload changed, by probe name.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadSummary {
    /// Probes that are new in the config.
    pub started: Vec<String>,
    /// Probes whose settings changed, restarted with the new ones.
    pub restarted: Vec<String>,
    /// Probes whose settings did not change; they kept running untouched.
    pub unchanged: Vec<String>,
    /// Probes that are no longer in the config.
    pub stopped: Vec<String>,
}

/// Why a run could not be started now.
#[derive(Debug, thiserror::Error)]
pub enum RunNowError {
    /// No probe has this name.
    #[error("no probe named {0}")]
    UnknownProbe(String),
    /// The probe is in a run already; runs of one probe never overlap.
    #[error("probe {0} is already running")]
    AlreadyRunning(String),
    /// The engine is stopping (or gone) and starts nothing new.
    #[error("loadprobe is shutting down")]
    ShuttingDown,
}

/// Text of a reload that found no engine to answer it.
const ENGINE_GONE: &str = "loadprobe is shutting down";

impl Control {
    /// A control handle and the receiver the engine reads commands from. `capacity` bounds
    /// the commands waiting for the engine (at least one).
    pub fn channel(capacity: usize) -> (Control, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Control { tx }, rx)
    }

    /// Asks the engine to reload its config. `Err` holds why the config was rejected (the
    /// running one is kept), or says that the engine is gone.
    pub async fn reload(&self) -> Result<ReloadSummary, String> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Command::Reload { reply }).await.is_err() {
            return Err(ENGINE_GONE.to_owned());
        }
        answer.await.unwrap_or_else(|_| Err(ENGINE_GONE.to_owned()))
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
                        let _ = reply.send(Err("bad config".to_owned()));
                    }
                    Command::RunNow { probe, reply } => {
                        let _ = reply.send(Err(RunNowError::UnknownProbe(probe)));
                    }
                }
            }
        });
        assert_eq!(control.reload().await.err().as_deref(), Some("bad config"));
        let error = control.run_now("nope").await.err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("no probe named nope"));
        drop(control);
        assert!(engine.await.is_ok());
    }

    #[tokio::test]
    async fn a_gone_engine_means_shutting_down() {
        let (control, commands) = Control::channel(1);
        drop(commands);
        assert_eq!(control.reload().await.err().as_deref(), Some(ENGINE_GONE));
        assert!(matches!(
            control.run_now("a").await,
            Err(RunNowError::ShuttingDown)
        ));
    }
}
