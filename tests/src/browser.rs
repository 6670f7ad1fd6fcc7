//! A real headless Chromium driven over WebDriver (`chromedriver` as a child process), for
//! the web UI's tests.
//!
//! Chromium runs with a temporary profile (removed on drop), `--headless=new`, and
//! `--no-sandbox` (its sandbox refuses to run as root, which CI is). chromedriver is started
//! in a process group of its own, and dropping the [`Browser`] kills that whole group, so no
//! Chromium outlives a failed test. Screenshots go to `<target>/ui-screenshots/`.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};

use crate::probe::wait_until;
use crate::procs::Proc;

/// The desktop and phone window sizes every page is shot at.
pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);

/// Chromium and chromedriver, if installed (`chromium`, `chromium-driver` on Debian).
pub fn available() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(n))
                    .find(|p| p.is_file())
            })
        })
    };
    Some((
        find(&["chromium", "chromium-browser"])?,
        find(&["chromedriver"])?,
    ))
}

pub struct Browser {
    pub client: Client,
    driver: Proc,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// `<target>/ui-screenshots`: next to the build's `debug/` directory.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    target.join("ui-screenshots")
}

impl Browser {
    /// Starts chromedriver and a Chromium session with a fresh profile; `logs` is where the
    /// driver's log goes.
    pub async fn start(chromium: &Path, chromedriver: &Path, logs: &Path) -> Browser {
        let port = free_port();
        let mut cmd = Command::new(chromedriver);
        cmd.arg(format!("--port={port}")).process_group(0);
        let driver = Proc::spawn("chromedriver", cmd, logs.join("chromedriver.log"));
        wait_until(Duration::from_secs(20), "chromedriver to listen", || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        let profile = tempfile::tempdir().expect("a temporary Chromium profile");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("a Chromium session through chromedriver: {e}"));
        let shots = screenshot_dir();
        std::fs::create_dir_all(&shots).expect("the screenshot directory");
        Browser {
            client,
            driver,
            _profile: profile,
            shots,
        }
    }

    /// Saves the page as `<name>-desktop.png` and `<name>-phone.png`, then goes back to
    /// the desktop size.
    pub async fn screenshot(&self, name: &str) {
        for (label, (w, h)) in [("phone", PHONE), ("desktop", DESKTOP)] {
            self.client
                .set_window_size(w, h)
                .await
                .expect("resize the window");
            let png = self.client.screenshot().await.expect("a screenshot");
            std::fs::write(self.shots.join(format!("{name}-{label}.png")), png)
                .expect("save the screenshot");
        }
    }

    /// Where the screenshots are.
    pub fn screenshots(&self) -> &Path {
        &self.shots
    }

    /// Ends the session (Chromium quits), then the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver's whole process group: chromedriver and every Chromium process it
        // started (they stay in its group).
        if let Some(pid) = self.driver.pid() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
        self.driver.kill();
    }
}
