//! Processes a test starts: killed and reaped on drop, their output kept in a log file that
//! a failing test prints.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The path of a workspace binary (`raftwire-node`, `raftwire-agent`) built next to the test
/// executable: `cargo test --workspace` builds every binary of the workspace first; for a
/// single test run, `cargo build -p raftwire-node -p raftwire-agent` first.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    // target/debug/deps/<test> → target/debug/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build -p {name}; `cargo test --workspace` does)",
        path.display()
    );
    path
}

/// A running process that is killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr into `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).expect("create the log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("clone the log file")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a signal (`TERM`, `KILL`, `STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .status();
        }
    }

    /// How the process ended, if it has exited by itself (it is reaped then); `None` while it
    /// runs, and after [`kill`](Proc::kill) or an exit already reported.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Waits for the process to exit by itself (after a `TERM`), up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        crate::probe::poll(limit, || self.try_exit())
    }

    /// Kills the process now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
