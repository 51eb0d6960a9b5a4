//! [`Process`]: the real `loadprobe` binary as a child, listening on 127.0.0.1:0, with its
//! address read from its `listening` log line and its stderr collected.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_loadprobe");

/// A running loadprobe process.
pub struct Process {
    child: Child,
    /// Where it serves its endpoints.
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Process {
    /// `loadprobe --config.file=<config>`, ready for more arguments and environment.
    pub fn command(config: &std::path::Path) -> Command {
        let mut command = Command::new(BIN);
        command.arg(format!("--config.file={}", config.display()));
        command
    }

    /// Starts `command` with `--web.listen-address=127.0.0.1:0` and waits (at most 10 s) for
    /// it to log where it listens.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .arg("--web.listen-address=127.0.0.1:0")
            .stderr(Stdio::piped())
            .spawn()
            .expect("loadprobe starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (address, listening) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().expect("stderr"));
        let collected = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = address.send(listen_address(&line));
                }
                let mut collected = collected.lock().expect("lock");
                collected.push_str(&line);
                collected.push('\n');
            }
        });
        let addr = listening
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no listening line: {}", stderr.lock().expect("lock")));
        Process {
            child,
            addr,
            stderr,
            reader: Some(reader),
        }
    }

    /// Sends signal `name` (`HUP`, `TERM`) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name}");
    }

    /// SIGTERM, then waits for the exit: its status and the whole of stderr.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        self.signal("TERM");
        let status = self.child.wait().expect("exits");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        let stderr = self.stderr.lock().expect("lock").clone();
        (status, stderr)
    }
}

impl Drop for Process {
    /// Kills the process if a failed test left it running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `address=` field of a `listening` log line.
fn listen_address(line: &str) -> SocketAddr {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .map(|a| a.trim_matches('"').parse().expect("socket address"))
        .unwrap_or_else(|| panic!("no address in {line}"))
}
