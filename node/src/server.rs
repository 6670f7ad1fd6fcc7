//! Starting and stopping a node: storage, Raft, the HTTP server, bootstrap and join.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use openraft::SnapshotPolicy;
use raftwire_raft_store::types::{Node, Raft};
use raftwire_raft_store::{store, AdminToken, Command};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{App, AppInner};
use crate::cluster::client;
use crate::cluster::membership::MembershipOp;
use crate::cluster::network::HttpNetwork;
use crate::cluster::rpc::INTERNAL_MEMBERSHIP;
use crate::config::NodeConfig;
use crate::consensus::propose;
use crate::consensus::ConsensusError;
use crate::http::handlers::now;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::secrets::{hash_token, read_or_create};

/// A running node. Dropping it does not stop it: call [`NodeHandle::shutdown`].
pub struct NodeHandle {
    pub app: App,
    /// The address the HTTP server is bound to (useful with port 0).
    pub local_addr: std::net::SocketAddr,
    /// The bootstrap admin token of this node.
    pub admin_token: String,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl NodeHandle {
    /// Stops serving, stops Raft, and waits for both. A stopping leader does not hand over
    /// leadership: openraft 0.9 has no transfer, and its leader lease makes followers refuse
    /// an early election, so the survivors elect a new leader after the election timeout.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.app.raft.shutdown().await;
        let _ = self.server.await;
        self.app.hub.close_all();
        // Agent sockets and a push round in flight still hold the node's state (and so its
        // RocksDB, whose lock a restart in the same process needs): wait for them to let go.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.app.holders() > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if self.app.holders() > 1 {
            tracing::warn!(
                "shutdown: {} handles to the node's state are still held",
                self.app.holders() - 1
            );
        }
    }
}

fn raft_config(cfg: &NodeConfig) -> anyhow::Result<openraft::Config> {
    let c = openraft::Config {
        cluster_name: "raftwire".into(),
        heartbeat_interval: cfg.raft.heartbeat_ms,
        election_timeout_min: cfg.raft.election_min_ms,
        election_timeout_max: cfg.raft.election_max_ms,
        // Built at a phase of this node's own instead: `crate::snapshots`.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 1000.min(cfg.raft.snapshot_every),
        install_snapshot_timeout: 10_000,
        ..Default::default()
    };
    Ok(c.validate()?)
}

/// Starts a node: opens (or creates) its data dir, starts Raft and the HTTP server, and
/// bootstraps or joins a cluster as configured.
pub async fn start(cfg: NodeConfig) -> anyhow::Result<NodeHandle> {
    crate::tls::install_crypto_provider();
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let raft_dir = cfg.data_dir.join("raft");
    let fresh = !raft_dir.exists();
    let (admin_token, created) = match &cfg.admin_token {
        Some(token) => (token.clone(), false),
        None => read_or_create(&cfg.admin_token_file)
            .with_context(|| format!("admin token file {}", cfg.admin_token_file.display()))?,
    };
    if created {
        println!(
            "raftwire-node: generated the admin token (kept in {}; valid on every node of the \
             cluster once this one has joined):\n{admin_token}",
            cfg.admin_token_file.display()
        );
    }
    let bootstrap = cfg.bootstrap || (cfg.join.is_none() && fresh && cfg.id == 1);
    let cluster_secret = cluster_secret(&cfg, fresh && bootstrap)?;

    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let local_addr = listener.local_addr()?;
    let mut cfg = cfg;
    if cfg.advertise_bound {
        let scheme = if cfg.tls.is_some() { "https" } else { "http" };
        cfg.advertise = format!("{scheme}://{local_addr}");
    }

    let (log_store, sm) =
        store::open(&raft_dir).map_err(|e| anyhow::anyhow!("opening storage: {e}"))?;
    // While it leads, this node syncs its own log in parallel with the followers' appends;
    // nothing applies an entry, here or on a follower, before that sync.
    log_store.durability().count_own_appends_early(cfg.id);
    // What this node trusts when it calls other nodes, by HTTP and on Raft streams.
    let node_tls = cfg
        .tls
        .as_ref()
        .map(|t| crate::tls::client_config(t.trust_anchor()))
        .transpose()?;
    let http = crate::tls::http_client_with(node_tls.as_deref(), Duration::from_secs(2))?;
    let secret = Arc::new(cluster_secret.clone());
    let network = HttpNetwork {
        http: http.clone(),
        streams: crate::cluster::stream::Streams::new(secret.clone(), node_tls),
        secret,
        durability: log_store.durability().clone(),
    };
    let raft = Raft::new(
        cfg.id,
        Arc::new(raft_config(&cfg)?),
        network,
        log_store.clone(),
        sm.clone(),
    )
    .await
    .context("starting Raft")?;

    let metrics = Metrics::new();
    let (agent_status, status_queue) = crate::agent_status::StatusWriter::new();
    let (batcher, batch_queue) = crate::batcher::Batcher::new();
    let features = Arc::new(crate::cluster::features::Features::new(cfg.id));
    let (stop, stopped) = watch::channel(false);
    let app = App::new(AppInner {
        id: cfg.id,
        advertise: cfg.advertise.clone(),
        batcher,
        features: features.clone(),
        applied: sm.subscribe_applied(),
        committed: log_store.subscribe_committed(),
        raft: raft.clone(),
        sm,
        http: http.clone(),
        ui: crate::ui::Sessions::new(&cluster_secret),
        cluster_secret,
        local_admin_hash: hash_token(&admin_token),
        admin_pending: std::sync::atomic::AtomicBool::new(!registered_marker(&cfg).exists()),
        hub: Hub::new(metrics.clone()),
        agent_status,
        leaderless_limit: Duration::from_millis(cfg.raft.leaderless_limit_ms),
        metrics,
        token_catch_up: Default::default(),
        leader_contact: Default::default(),
        stopping: stopped.clone(),
    });

    let router = crate::http::router(app.clone());
    let server = match &cfg.tls {
        None => tokio::spawn(serve_http(listener, router, stopped)),
        Some(tls) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .with_context(|| {
                    format!("loading {} and {}", tls.cert.display(), tls.key.display())
                })?;
            tokio::spawn(serve_https(listener.into_std()?, config, router, stopped))
        }
    };

    let mut tasks = vec![
        tokio::spawn(crate::hub::run(app.clone())),
        tokio::spawn(crate::agent_status::run(app.clone(), status_queue)),
        tokio::spawn(crate::agent_status::mark_stale_disconnected(app.clone())),
        tokio::spawn(crate::election::run(app.clone())),
        tokio::spawn(crate::batcher::run(
            raft.clone(),
            features,
            app.metrics.clone(),
            batch_queue,
        )),
        tokio::spawn(crate::cluster::features::watch(app.clone())),
        tokio::spawn(crate::snapshots::run(app.clone(), cfg.raft.snapshot_every)),
    ];
    if bootstrap {
        let members = BTreeMap::from([(cfg.id, Node::new(cfg.advertise.clone()))]);
        match raft.initialize(members).await {
            Ok(()) => tracing::info!("bootstrapped a new cluster as node {}", cfg.id),
            Err(e) => tracing::info!("not bootstrapping: {e}"),
        }
    }
    if let Some(seed) = cfg.join.clone() {
        tasks.push(tokio::spawn(join(app.clone(), seed)));
    }
    if !registered_marker(&cfg).exists() {
        // Only until it worked once: a token deleted later through the API stays deleted.
        tasks.push(tokio::spawn(register_admin_token(
            app.clone(),
            registered_marker(&cfg),
        )));
    }
    Ok(NodeHandle {
        app,
        local_addr,
        admin_token,
        stop,
        server,
        tasks,
    })
}

async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    mut stopped: watch::Receiver<bool>,
) {
    let shutdown = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("HTTP server failed: {e}");
    }
}

async fn serve_https(
    listener: std::net::TcpListener,
    config: axum_server::tls_rustls::RustlsConfig,
    router: axum::Router,
    mut stopped: watch::Receiver<bool>,
) {
    let handle = axum_server::Handle::new();
    let on_stop = handle.clone();
    tokio::spawn(async move {
        let _ = stopped.wait_for(|s| *s).await;
        on_stop.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    let server = match axum_server::from_tcp_rustls(listener, config) {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("HTTPS server failed to start: {e}");
            return;
        }
    };
    if let Err(e) = server
        .handle(handle)
        .serve(router.into_make_service())
        .await
    {
        tracing::error!("HTTPS server failed: {e}");
    }
}

/// `--join`: ask the seed (any node) to add us as a learner and wait until we caught up,
/// then to promote us. Retries until it works: the seed may not be up yet.
async fn join(app: App, seed: String) {
    let steps = [
        MembershipOp::AddLearner {
            id: app.id,
            addr: app.advertise.clone(),
            wait: true,
        },
        MembershipOp::Promote { id: app.id },
    ];
    for op in steps {
        let mut delay = Duration::from_millis(200);
        loop {
            let answer = client::call::<MembershipOp, Result<(), ConsensusError>>(
                &app,
                &seed,
                INTERNAL_MEMBERSHIP,
                &op,
            )
            .await;
            match answer {
                Ok(Ok(())) => break,
                // Expected steps of a join: the seed is not up yet, the cluster is electing,
                // or the previous membership change is still being committed.
                Ok(Err(e)) if e.is_change_in_progress() => {
                    tracing::debug!("join via {seed}: {op:?} waits for a change in flight: {e}")
                }
                Ok(Err(e @ ConsensusError::NoLeader(_))) => {
                    tracing::info!("join via {seed}: {op:?} waits for a leader: {e}")
                }
                Err(e) if e.is_unreachable() => {
                    tracing::info!("join via {seed}: {seed} is not reachable yet: {e}")
                }
                Ok(Err(e)) => tracing::warn!("join via {seed}: {op:?} refused: {e}; retrying"),
                Err(e) => tracing::warn!("join via {seed}: {op:?} failed: {e}; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
    tracing::info!("joined the cluster via {seed} as a voter");
}

/// Makes this node's bootstrap admin token valid on every node by replicating its hash.
/// The cluster secret. Only a node creating a new cluster may generate it: any other node
/// must be given the one its cluster uses (a secret of its own would make every call between
/// it and the others fail authentication, and nodes started together would race to create
/// a shared file), so a missing file is an error that says what to copy.
fn cluster_secret(cfg: &NodeConfig, may_create: bool) -> anyhow::Result<String> {
    let path = &cfg.cluster_secret_file;
    let context = || format!("cluster secret file {}", path.display());
    if may_create {
        let (secret, created) = read_or_create(path).with_context(context)?;
        if created {
            println!(
                "raftwire-node: generated the cluster secret in {}: copy this file to every \
                 other node before starting it (--cluster-secret-file)",
                path.display()
            );
        }
        return Ok(secret);
    }
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Ok(_) => anyhow::bail!("{} is empty: copy the cluster secret file of a node of the cluster there", context()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{} does not exist: a node that joins a cluster (or restarts without it) needs the \
             cluster's secret, which the first node generated (by default <data-dir>/cluster-secret \
             on that node); copy it here (mode 0600) and start again",
            context()
        ),
        Err(e) => Err(e).with_context(context),
    }
}

/// Marks that this node's bootstrap admin token has been replicated once.
fn registered_marker(cfg: &NodeConfig) -> std::path::PathBuf {
    cfg.data_dir.join("admin-token-registered")
}

async fn register_admin_token(app: App, marker: std::path::PathBuf) {
    let done = |app: &App| {
        app.admin_pending
            .store(false, std::sync::atomic::Ordering::Release);
        if let Err(e) = std::fs::write(&marker, b"") {
            tracing::warn!("writing {}: {e}", marker.display());
        }
    };
    let mut delay = Duration::from_millis(100);
    loop {
        let known = app
            .with_state(|s| s.admin_token_by_hash(&app.local_admin_hash).is_some())
            .unwrap_or(false);
        let member = app
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&app.id)
            .is_some();
        if known {
            done(&app);
            return;
        }
        if member && app.raft.metrics().borrow().current_leader.is_some() {
            let cmd = Command::CreateAdminToken {
                token: AdminToken {
                    id: raftwire_api::TokenId(uuid::Uuid::new_v4()),
                    name: format!("bootstrap-node-{}-{}", app.id, &app.local_admin_hash[..8]),
                    token_hash: app.local_admin_hash.clone(),
                    created_at: now(),
                },
            };
            match propose(&app, cmd).await {
                Ok(_) => {
                    done(&app);
                    return;
                }
                Err(ConsensusError::Refused(e)) if e.is_conflict() => {
                    done(&app);
                    return;
                }
                Err(e) => tracing::debug!("registering the admin token: {e}"),
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
