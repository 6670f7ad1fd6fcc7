//! The agent's main loop.
//!
//! 1. At start: the key pair, then the persisted configuration, converged at once — before
//!    any connection, so a host restarted while the control plane is down serves again.
//! 2. Every configuration the node sends that differs from the one held (by fingerprint) is
//!    converged (in a blocking task: modules run host commands), persisted, and answered
//!    with a status.
//! 3. Every `--resync-interval` the held configuration is converged again, repairing drift
//!    (a chain flushed by hand, a removed peer or address, a reset sysctl); a status is sent
//!    only when the errors changed.
//! 4. SIGTERM/SIGINT: stop cleanly. The tunnel stays up unless `--down-on-exit`.

use std::time::Duration;

use raftwire_api::agent::AgentConfig;
use raftwire_api::protocol::{config_fingerprint, ModuleError};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::config::Args;
use crate::connection::{self, Dialer, Incoming, Received, Report, Status};
use crate::converge::{self, Module, Settings};
use crate::keys;
use crate::state::{self, Applied};

/// The log line an agent writes after converging to its persisted configuration at start.
pub const CONVERGED_FROM_PERSISTED: &str = "converged from the persisted config";

/// What the loop holds.
pub struct Runner {
    settings: Settings,
    modules: Vec<Box<dyn Module>>,
    held: Option<Applied>,
    /// The errors of the last converge (`None`: none ran yet).
    errors: Option<Vec<ModuleError>>,
    report: watch::Sender<Report>,
    /// How often a whole configuration was asked for (see [`Report::resync_requests`]).
    resync_requests: u64,
}

impl Runner {
    pub fn new(settings: Settings, modules: Vec<Box<dyn Module>>) -> Runner {
        Runner {
            settings,
            modules,
            held: None,
            errors: None,
            report: watch::Sender::new(Report::default()),
            resync_requests: 0,
        }
    }

    /// What the connection reads: the held version and fingerprint, and the last status.
    pub fn subscribe(&self) -> watch::Receiver<Report> {
        self.report.subscribe()
    }

    /// The configuration held, if any.
    pub fn held(&self) -> Option<&Applied> {
        self.held.as_ref()
    }

    /// Runs every module on `cfg` off the async threads. A module that panics loses its
    /// in-memory state; the modules are built afresh (they observe the host, so nothing
    /// is lost but the panic, which is reported).
    async fn converge(&mut self, cfg: &AgentConfig) -> Vec<ModuleError> {
        let mut modules = std::mem::take(&mut self.modules);
        let cfg = cfg.clone();
        let run = tokio::task::spawn_blocking(move || {
            let errors = converge::converge_all(&mut modules, &cfg);
            (modules, errors)
        });
        match run.await {
            Ok((modules, errors)) => {
                self.modules = modules;
                errors
            }
            Err(e) => {
                self.modules = converge::all(&self.settings);
                vec![ModuleError {
                    module: "agent".into(),
                    message: format!("converging panicked: {e}"),
                }]
            }
        }
    }

    fn publish(&self) {
        let Some(held) = &self.held else { return };
        self.report.send_replace(Report {
            applied_version: held.version,
            config_hash: Some(held.fingerprint()),
            status: self.errors.clone().map(|errors| Status {
                applied_version: held.version,
                errors,
            }),
            resync_requests: self.resync_requests,
        });
    }

    /// Makes what the node sent whole: a delta applies to `pending` (resolved from an
    /// earlier message, not converged yet) or else to the configuration held, and only if
    /// that is the version the delta names as its base.
    pub fn resolve(
        &self,
        pending: Option<&Received>,
        incoming: Incoming,
    ) -> Result<Received, String> {
        let (version, base, delta) = match incoming {
            Incoming::Whole(r) => return Ok(r),
            Incoming::Delta {
                version,
                base,
                delta,
            } => (version, base, delta),
        };
        let (have, held) = match (pending, &self.held) {
            (Some(p), _) => (p.version, &p.config),
            (None, Some(h)) => (h.version, &h.config),
            (None, None) => {
                return Err(format!(
                    "a delta against version {base}, but no configuration is held"
                ))
            }
        };
        if have != base {
            return Err(format!(
                "a delta against version {base}, but version {have} is held"
            ));
        }
        let config = delta.apply(held).map_err(|e| e.to_string())?;
        Ok(Received { version, config })
    }

    /// Asks the node (through the connection) for the whole configuration.
    pub fn request_resync(&mut self) {
        self.resync_requests += 1;
        let n = self.resync_requests;
        self.report.send_modify(|r| r.resync_requests = n);
    }

    /// Resolves every message in `batch`, in order (deltas build on each other), and
    /// converges only to the newest configuration; asks for a whole one when the last of
    /// them could not be made whole.
    pub async fn on_messages(&mut self, batch: impl IntoIterator<Item = Incoming>) {
        let mut latest: Option<Received> = None;
        let mut unresolved = false;
        for incoming in batch {
            match self.resolve(latest.as_ref(), incoming) {
                Ok(r) => {
                    latest = Some(r);
                    unresolved = false;
                }
                Err(e) => {
                    tracing::warn!("{e}: asking the node for the whole configuration");
                    unresolved = true;
                }
            }
        }
        if unresolved {
            self.request_resync();
        }
        if let Some(r) = latest {
            self.on_config(r).await;
        }
    }

    fn log_outcome(what: &str, version: u64, errors: &[ModuleError]) {
        if errors.is_empty() {
            tracing::info!("{what} (version {version})");
        } else {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            tracing::warn!(
                "{what} (version {version}) with errors: {}",
                list.join("; ")
            );
        }
    }

    /// Converges to the persisted configuration, if there is one (at start).
    pub async fn start_from(&mut self, persisted: Option<Applied>) {
        let Some(applied) = persisted else {
            tracing::info!("no persisted config; waiting for the node's");
            return;
        };
        let errors = self.converge(&applied.config).await;
        Self::log_outcome(CONVERGED_FROM_PERSISTED, applied.version, &errors);
        self.held = Some(applied);
        self.errors = Some(errors);
        self.publish();
    }

    /// A configuration from the node: converged and persisted unless it is the one held.
    pub async fn on_config(&mut self, received: Received) {
        let Received { version, config } = received;
        let fingerprint = config_fingerprint(&config);
        if let Some(held) = &mut self.held {
            if held.fingerprint() == fingerprint {
                // Nothing to change on the host; the node's version is what it will compare
                // the next hello with.
                if held.version != version {
                    held.version = version;
                    self.persist();
                    self.publish();
                }
                tracing::debug!("configuration version {version} is the one held");
                return;
            }
        }
        let mut errors = self.converge(&config).await;
        self.held = Some(Applied { version, config });
        if let Some(e) = self.persist() {
            errors.push(e);
        }
        Self::log_outcome("applied the node's config", version, &errors);
        self.errors = Some(errors);
        self.publish();
    }

    /// Converges the held configuration again; a status only when the errors changed.
    pub async fn resync(&mut self) {
        let Some(cfg) = self.held.as_ref().map(|h| h.config.clone()) else {
            return;
        };
        let errors = self.converge(&cfg).await;
        if self.errors.as_ref() != Some(&errors) {
            let version = self.held.as_ref().map(|h| h.version).unwrap_or(0);
            Self::log_outcome("resync changed the outcome", version, &errors);
            self.errors = Some(errors);
            self.publish();
        }
    }

    /// Saves the held configuration; the failure as a module error.
    fn persist(&self) -> Option<ModuleError> {
        let held = self.held.as_ref()?;
        match state::save(&self.settings.state_dir, held) {
            Ok(()) => None,
            Err(e) => {
                let message = format!(
                    "saving {}: {e}",
                    state::path(&self.settings.state_dir).display()
                );
                tracing::warn!("{message}");
                Some(ModuleError {
                    module: "state".into(),
                    message,
                })
            }
        }
    }

    /// Removes everything the modules made (`--down-on-exit`).
    pub async fn remove_all(&mut self) -> Vec<ModuleError> {
        let mut modules = std::mem::take(&mut self.modules);
        match tokio::task::spawn_blocking(move || converge::remove_all(&mut modules)).await {
            Ok(errors) => errors,
            Err(e) => vec![ModuleError {
                module: "agent".into(),
                message: format!("removing panicked: {e}"),
            }],
        }
    }
}

/// The whole agent, until SIGTERM or SIGINT.
pub async fn run(args: Args) -> anyhow::Result<()> {
    connection::install_crypto_provider();
    // A missing or empty token file is an operator error worth failing fast on, before
    // anything is written.
    args.read_token()?;
    let (pair, generated) = keys::load_or_generate(&args.state_dir)?;
    if generated {
        tracing::info!(
            "generated a new key pair in {}; public key {}",
            args.state_dir.display(),
            pair.public()
        );
    } else {
        tracing::info!("public key {}", pair.public());
    }
    let tls = args
        .ca_cert
        .as_deref()
        .map(connection::tls_config)
        .transpose()?;
    let settings = args.settings(
        pair.private().to_string(),
        tokio::runtime::Handle::current(),
    );
    let modules = converge::all(&settings);
    let mut runner = Runner::new(settings, modules);

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    let persisted = match state::load(&args.state_dir) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("{e}; ignoring it and waiting for the node's config");
            None
        }
    };
    runner.start_from(persisted).await;

    let dialer = Dialer::new(
        args.server.clone(),
        args.token_file.clone(),
        tls,
        pair.public().to_string(),
        args.hostname(),
    );
    let (configs_tx, mut configs) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let connection = tokio::spawn(connection::run(
        dialer,
        runner.subscribe(),
        configs_tx,
        stop_rx,
    ));

    let mut resync = tokio::time::interval(args.resync_interval);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resync.tick().await; // the first tick is immediate; the start already converged
    let signal_name = loop {
        tokio::select! {
            received = configs.recv() => {
                let Some(first) = received else { break "the connection ended" };
                // Only the newest of several queued configurations is converged.
                let mut batch = vec![first];
                while let Ok(newer) = configs.try_recv() {
                    batch.push(newer);
                }
                runner.on_messages(batch).await;
            }
            _ = resync.tick() => runner.resync().await,
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
        }
    };
    tracing::info!("{signal_name}: stopping");
    let _ = stop.send(true);
    if tokio::time::timeout(Duration::from_secs(3), connection)
        .await
        .is_err()
    {
        tracing::warn!("the connection did not close in time");
    }
    if args.down_on_exit {
        let errors = runner.remove_all().await;
        if errors.is_empty() {
            tracing::info!("removed everything the agent made (--down-on-exit)");
        } else {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            tracing::warn!("removing failed in part: {}", list.join("; "));
        }
    } else {
        tracing::info!("leaving the host as configured (no --down-on-exit)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A module that records what it was asked and fails on demand.
    struct Recorder {
        seen: Arc<Mutex<Vec<Option<u16>>>>,
        fail: Arc<Mutex<Option<String>>>,
    }

    impl Module for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn converge(&mut self, desired: &AgentConfig) -> Result<(), String> {
            self.seen
                .lock()
                .unwrap()
                .push(desired.interface.listen_port);
            match self.fail.lock().unwrap().clone() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        fn remove(&mut self) -> Result<(), String> {
            self.seen.lock().unwrap().push(None);
            Ok(())
        }
    }

    fn config(listen_port: u16) -> AgentConfig {
        crate::testkit::sample_config(Some(listen_port))
    }

    struct Fixture {
        runner: Runner,
        report: watch::Receiver<Report>,
        seen: Arc<Mutex<Vec<Option<u16>>>>,
        fail: Arc<Mutex<Option<String>>>,
        dir: tempfile::TempDir,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::default();
        let fail = Arc::default();
        let settings = Settings {
            interface: None,
            wg_backend: converge::WgBackend::Auto,
            private_key: String::new(),
            state_dir: PathBuf::from(dir.path()),
            dns_port: 53,
            runtime: tokio::runtime::Handle::current(),
        };
        let module = Recorder {
            seen: Arc::clone(&seen),
            fail: Arc::clone(&fail),
        };
        let runner = Runner::new(settings, vec![Box::new(module)]);
        let report = runner.subscribe();
        Fixture {
            runner,
            report,
            seen,
            fail,
            dir,
        }
    }

    #[tokio::test]
    async fn a_new_config_is_converged_persisted_and_reported() {
        let mut f = fixture();
        f.runner
            .on_config(Received {
                version: 5,
                config: config(1000),
            })
            .await;
        assert_eq!(*f.seen.lock().unwrap(), [Some(1000)]);
        let saved = state::load(f.dir.path()).unwrap().unwrap();
        assert_eq!(saved.version, 5);
        assert_eq!(saved.config, config(1000));
        assert!(f.report.has_changed().unwrap());
        let report = f.report.borrow_and_update().clone();
        assert_eq!(report.applied_version, 5);
        assert_eq!(report.config_hash, Some(config_fingerprint(&config(1000))));
        assert_eq!(
            report.status,
            Some(Status {
                applied_version: 5,
                errors: vec![]
            })
        );
    }

    #[tokio::test]
    async fn the_same_config_again_is_not_converged_again() {
        let mut f = fixture();
        let cfg = Received {
            version: 5,
            config: config(1000),
        };
        f.runner.on_config(cfg.clone()).await;
        f.report.borrow_and_update();
        f.runner.on_config(cfg).await;
        assert_eq!(f.seen.lock().unwrap().len(), 1);
        assert!(!f.report.has_changed().unwrap(), "no second status");
        // The same content at another node's version: recorded, not applied.
        f.runner
            .on_config(Received {
                version: 9,
                config: config(1000),
            })
            .await;
        assert_eq!(f.seen.lock().unwrap().len(), 1);
        assert_eq!(state::load(f.dir.path()).unwrap().unwrap().version, 9);
        assert_eq!(f.report.borrow_and_update().applied_version, 9);
    }

    #[tokio::test]
    async fn a_failing_module_is_reported_in_the_status() {
        let mut f = fixture();
        *f.fail.lock().unwrap() = Some("no such device".into());
        f.runner
            .on_config(Received {
                version: 3,
                config: config(1),
            })
            .await;
        let status = f.report.borrow_and_update().status.clone().unwrap();
        assert_eq!(
            status.errors,
            [ModuleError {
                module: "recorder".into(),
                message: "no such device".into()
            }]
        );
    }

    #[tokio::test]
    async fn resync_reconverges_and_reports_only_when_the_errors_change() {
        let mut f = fixture();
        f.runner.resync().await;
        assert!(
            f.seen.lock().unwrap().is_empty(),
            "nothing held: nothing to do"
        );
        f.runner
            .on_config(Received {
                version: 3,
                config: config(7),
            })
            .await;
        f.report.borrow_and_update();
        f.runner.resync().await;
        assert_eq!(*f.seen.lock().unwrap(), [Some(7), Some(7)]);
        assert!(!f.report.has_changed().unwrap(), "same outcome: no status");
        *f.fail.lock().unwrap() = Some("chain gone and could not be restored".into());
        f.runner.resync().await;
        assert!(f.report.has_changed().unwrap());
        assert!(!f
            .report
            .borrow_and_update()
            .status
            .clone()
            .unwrap()
            .errors
            .is_empty());
        *f.fail.lock().unwrap() = None;
        f.runner.resync().await;
        assert!(f
            .report
            .borrow_and_update()
            .status
            .clone()
            .unwrap()
            .errors
            .is_empty());
    }

    #[tokio::test]
    async fn the_persisted_config_is_converged_at_start_and_offered_in_the_hello() {
        let mut f = fixture();
        f.runner
            .start_from(Some(Applied {
                version: 11,
                config: config(42),
            }))
            .await;
        assert_eq!(*f.seen.lock().unwrap(), [Some(42)]);
        let report = f.report.borrow_and_update().clone();
        assert_eq!(report.applied_version, 11);
        assert_eq!(report.config_hash, Some(config_fingerprint(&config(42))));
    }

    #[tokio::test]
    async fn a_config_that_cannot_be_saved_is_still_applied_and_the_failure_reported() {
        let mut f = fixture();
        // The state file's place is taken by a directory.
        std::fs::create_dir(state::path(f.dir.path())).unwrap();
        f.runner
            .on_config(Received {
                version: 2,
                config: config(9),
            })
            .await;
        assert_eq!(*f.seen.lock().unwrap(), [Some(9)]);
        let status = f.report.borrow_and_update().status.clone().unwrap();
        assert_eq!(status.errors.len(), 1);
        assert_eq!(status.errors[0].module, "state");
    }

    #[tokio::test]
    async fn down_on_exit_removes_what_the_modules_made() {
        let mut f = fixture();
        assert!(f.runner.remove_all().await.is_empty());
        assert_eq!(*f.seen.lock().unwrap(), [None]);
    }

    fn delta(from: u16, to: u16) -> Incoming {
        Incoming::Delta {
            version: u64::from(to),
            base: u64::from(from),
            delta: raftwire_api::delta::ConfigDelta::between(&config(from), &config(to)).unwrap(),
        }
    }

    #[tokio::test]
    async fn deltas_build_on_the_held_config_in_order_and_only_the_newest_is_converged() {
        let mut f = fixture();
        f.runner
            .on_config(Received {
                version: 1,
                config: config(1),
            })
            .await;
        f.runner
            .on_messages([delta(1, 2), delta(2, 3), delta(3, 4)])
            .await;
        assert_eq!(*f.seen.lock().unwrap(), [Some(1), Some(4)]);
        let held = f.runner.held().unwrap();
        assert_eq!((held.version, &held.config), (4, &config(4)));
        assert_eq!(f.report.borrow_and_update().resync_requests, 0);
    }

    #[tokio::test]
    async fn a_delta_against_a_version_not_held_is_not_applied_and_asks_for_the_whole_config() {
        let mut f = fixture();
        f.runner
            .on_config(Received {
                version: 1,
                config: config(1),
            })
            .await;
        f.report.borrow_and_update();
        f.runner.on_messages([delta(2, 3)]).await;
        assert_eq!(*f.seen.lock().unwrap(), [Some(1)], "nothing converged");
        assert_eq!(f.runner.held().unwrap().config, config(1));
        assert_eq!(f.report.borrow_and_update().resync_requests, 1);
        // The whole config that answers the resync is taken as it is.
        f.runner
            .on_messages([Incoming::Whole(Received {
                version: 3,
                config: config(3),
            })])
            .await;
        assert_eq!(f.runner.held().unwrap().config, config(3));
        assert_eq!(f.report.borrow_and_update().resync_requests, 1);
    }
}
