//! The agent WebSocket: one connection at a time to one of the configured nodes, and the
//! loop that keeps one open.
//!
//! A connection authenticates with `Authorization: Bearer <agent token>`, says hello (public
//! key, host name, and the version and fingerprint of the configuration the agent holds, so
//! a node that would send exactly that sends nothing), re-sends the last status (a node the
//! agent failed over to has none yet), then hands every received configuration to the
//! runner and sends each status the runner publishes. It pings while idle and gives up on a
//! node silent for the protocol's silence limit. A close or an error means: back off, move
//! on to the next node.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use raftwire_api::agent::AgentConfig;
use raftwire_api::delta::ConfigDelta;
use raftwire_api::protocol::{
    AgentMessage, ModuleError, ServerMessage, FEATURE_DELTA, SILENCE_LIMIT_SECS,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::backoff::Backoff;
use crate::config::{read_token, Server};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The agent pings after this long without sending anything.
pub const PING_EVERY: Duration = Duration::from_secs(10);
/// The agent gives up on a node it has heard nothing from for this long.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(SILENCE_LIMIT_SECS);
/// Connecting (TCP, TLS, WebSocket upgrade) may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes ring rustls' process-wide crypto provider, used for `wss://` without `--ca-cert`
/// (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A TLS client configuration that trusts exactly the certificates in the PEM file `ca`.
pub fn tls_config(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let pem =
        std::fs::read(ca).with_context(|| format!("reading CA certificates {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.with_context(|| format!("parsing CA certificates {}", ca.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("a CA certificate in {} is not usable", ca.display()))?;
    }
    anyhow::ensure!(!roots.is_empty(), "no certificate in {}", ca.display());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A status as the runner publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub applied_version: u64,
    pub errors: Vec<ModuleError>,
}

impl Status {
    fn message(&self) -> AgentMessage {
        AgentMessage::Status {
            applied_version: self.applied_version,
            ok: self.errors.is_empty(),
            errors: self.errors.clone(),
        }
    }
}

/// What the runner holds, for the hello of the next connection and the status to send.
/// Every change of it (`watch::Sender::send_replace`) sends the status on the current
/// connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The version of the configuration held (0: none).
    pub applied_version: u64,
    /// Its fingerprint.
    pub config_hash: Option<String>,
    /// The outcome of the last apply.
    pub status: Option<Status>,
    /// How often the runner asked for a whole configuration (a delta did not fit what it
    /// holds): each increase sends the node a `resync`.
    pub resync_requests: u64,
}

/// A configuration the node sent, whole (or made whole from a delta).
#[derive(Debug, Clone)]
pub struct Received {
    pub version: u64,
    pub config: AgentConfig,
}

/// What the node sent: a whole configuration, or a delta against the one of version `base`.
#[derive(Debug, Clone)]
pub enum Incoming {
    Whole(Received),
    Delta {
        version: u64,
        base: u64,
        delta: ConfigDelta,
    },
}

/// Who the agent is and where it connects.
#[derive(Debug, Clone)]
pub struct Dialer {
    pub servers: Vec<Server>,
    pub token_file: PathBuf,
    /// Trust for `wss://` (from `--ca-cert`); `None`: the system's roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub public_key: String,
    pub hostname: String,
    pub ping_every: Duration,
    pub silence_limit: Duration,
    pub backoff: Backoff,
}

impl Dialer {
    pub fn new(
        servers: Vec<Server>,
        token_file: PathBuf,
        tls: Option<Arc<rustls::ClientConfig>>,
        public_key: String,
        hostname: String,
    ) -> Dialer {
        let backoff = Backoff::new(servers.len());
        Dialer {
            servers,
            token_file,
            tls,
            public_key,
            hostname,
            ping_every: PING_EVERY,
            silence_limit: SILENCE_LIMIT,
            backoff,
        }
    }
}

/// How a connection ended.
#[derive(Debug)]
enum End {
    /// The node closed it (`try_another`: it knows no leader).
    Closed { why: String, try_another: bool },
    /// Nothing heard for the silence limit.
    Silent,
    /// The agent is stopping, or the runner is gone.
    Stopped,
}

/// Keeps a connection to one of the servers open until `stop` turns true: connects,
/// serves it, and on a close or an error backs off and moves on to the next server.
pub async fn run(
    mut dialer: Dialer,
    mut report: watch::Receiver<Report>,
    configs: mpsc::UnboundedSender<Incoming>,
    mut stop: watch::Receiver<bool>,
) {
    if dialer.servers.is_empty() {
        tracing::error!("no server to connect to");
        return;
    }
    loop {
        if *stop.borrow() {
            return;
        }
        let server = dialer.servers[dialer.backoff.server() % dialer.servers.len()].clone();
        let started = Instant::now();
        let outcome = session(&dialer, &server, &mut report, &configs, &mut stop).await;
        let try_another = matches!(
            outcome,
            Ok(End::Closed {
                try_another: true,
                ..
            })
        );
        match outcome {
            Ok(End::Stopped) => return,
            Ok(End::Closed { why, .. }) => {
                tracing::info!("{server}: connection closed by the node{why}")
            }
            Ok(End::Silent) => tracing::warn!(
                "{server}: nothing heard for {}s; dropping the connection",
                dialer.silence_limit.as_secs()
            ),
            Err(e) => tracing::warn!("{server}: {e:#}"),
        }
        let delay = if try_another {
            dialer.backoff.try_another()
        } else {
            dialer.backoff.failed(started.elapsed())
        };
        let next = &dialer.servers[dialer.backoff.server() % dialer.servers.len()];
        tracing::info!("reconnecting to {next} in {} ms", delay.as_millis());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn connect(dialer: &Dialer, server: &Server) -> anyhow::Result<Ws> {
    let token = read_token(&dialer.token_file)?;
    let mut request = server
        .ws_url
        .as_str()
        .into_client_request()
        .context("building the WebSocket request")?;
    let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .context("the agent token is not a valid header value")?;
    auth.set_sensitive(true);
    request.headers_mut().insert("authorization", auth);
    let connector = match (&dialer.tls, server.tls) {
        (Some(tls), true) => Some(Connector::Rustls(Arc::clone(tls))),
        _ => None,
    };
    let (ws, _response) = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector),
    )
    .await
    .map_err(|_| anyhow::anyhow!("connecting timed out after {CONNECT_TIMEOUT:?}"))?
    .map_err(describe_connect_error)?;
    Ok(ws)
}

/// A connect error in the operator's terms (a 401 is a wrong token, not a protocol error).
fn describe_connect_error(e: tokio_tungstenite::tungstenite::Error) -> anyhow::Error {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Http(resp) => {
            let status = resp.status();
            let hint = match status.as_u16() {
                401 => ": the agent token was not accepted (rotated or the peer deleted?)",
                403 => ": the token is not an agent token",
                _ => "",
            };
            anyhow::anyhow!("the node refused the connection: HTTP {status}{hint}")
        }
        other => anyhow::anyhow!("connecting failed: {other}"),
    }
}

/// Sends `msg` as a JSON text frame, giving up after the silence limit.
async fn send(ws: &mut Ws, msg: &AgentMessage, limit: Duration) -> anyhow::Result<()> {
    let text = serde_json::to_string(msg).context("encoding a message")?;
    tokio::time::timeout(limit, ws.send(Message::Text(text.into())))
        .await
        .map_err(|_| anyhow::anyhow!("sending stalled for {limit:?}"))?
        .context("sending")
}

/// One connection, until it ends.
async fn session(
    dialer: &Dialer,
    server: &Server,
    report: &mut watch::Receiver<Report>,
    configs: &mpsc::UnboundedSender<Incoming>,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<End> {
    let mut ws = tokio::select! {
        ws = connect(dialer, server) => ws?,
        _ = stop.changed() => return Ok(End::Stopped),
    };
    let held = report.borrow_and_update().clone();
    let hello = AgentMessage::Hello {
        public_key: Some(dialer.public_key.clone()),
        hostname: Some(dialer.hostname.clone()),
        applied_version: held.applied_version,
        config_hash: held.config_hash.clone(),
        features: vec![FEATURE_DELTA.to_string()],
    };
    let mut resyncs_sent = held.resync_requests;
    send(&mut ws, &hello, dialer.silence_limit).await?;
    tracing::info!(
        "{server}: connected (holding version {})",
        held.applied_version
    );
    if let Some(status) = &held.status {
        send(&mut ws, &status.message(), dialer.silence_limit).await?;
    }

    let mut last_heard = Instant::now();
    let mut last_sent = Instant::now();
    let mut tick = tokio::time::interval(tick_for(dialer));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = ws.next() => {
                last_heard = Instant::now();
                match msg {
                    None => return Ok(End::Closed { why: String::new(), try_another: false }),
                    Some(Err(e)) => return Err(anyhow::Error::new(e).context("receiving")),
                    Some(Ok(Message::Close(frame))) => {
                        let try_another = frame.as_ref().is_some_and(|f| {
                            u16::from(f.code) == raftwire_api::protocol::CLOSE_NO_LEADER
                        });
                        let why = frame
                            .filter(|f| !f.reason.is_empty())
                            .map(|f| format!(": {}", f.reason))
                            .unwrap_or_default();
                        return Ok(End::Closed { why, try_another });
                    }
                    Some(Ok(Message::Text(text))) => {
                        match serde_json::from_str::<ServerMessage>(text.as_str()) {
                            Ok(ServerMessage::Config { version, config }) => {
                                tracing::debug!("{server}: received configuration version {version}");
                                let whole = Incoming::Whole(Received { version, config: *config });
                                if configs.send(whole).is_err() {
                                    return Ok(End::Stopped);
                                }
                            }
                            Ok(ServerMessage::Delta { version, base, delta }) => {
                                tracing::debug!("{server}: received configuration version {version} as a delta against {base}");
                                if configs.send(Incoming::Delta { version, base, delta: *delta }).is_err() {
                                    return Ok(End::Stopped);
                                }
                            }
                            // A newer node may know messages this agent does not.
                            Err(e) => tracing::warn!("{server}: ignoring a message: {e}"),
                        }
                    }
                    // Pings are answered by the WebSocket layer; pongs only prove life.
                    Some(Ok(_)) => {}
                }
            }
            changed = report.changed() => {
                if changed.is_err() {
                    return Ok(End::Stopped);
                }
                let now = report.borrow_and_update().clone();
                if now.resync_requests != resyncs_sent {
                    resyncs_sent = now.resync_requests;
                    send(&mut ws, &AgentMessage::Resync, dialer.silence_limit).await?;
                    last_sent = Instant::now();
                }
                if let Some(status) = now.status {
                    send(&mut ws, &status.message(), dialer.silence_limit).await?;
                    last_sent = Instant::now();
                }
            }
            _ = tick.tick() => {
                if last_heard.elapsed() >= dialer.silence_limit {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Ok(End::Silent);
                }
                if last_sent.elapsed() >= dialer.ping_every {
                    send(&mut ws, &AgentMessage::Ping, dialer.silence_limit).await?;
                    last_sent = Instant::now();
                }
            }
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return Ok(End::Stopped);
            }
        }
    }
}

/// How often the session checks for idleness and silence.
fn tick_for(dialer: &Dialer) -> Duration {
    (dialer.ping_every.min(dialer.silence_limit) / 4).max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    /// A fake node on loopback: accepts WebSockets, records each connection's
    /// Authorization header, and hands the test each accepted socket.
    struct FakeNode {
        url: String,
        sockets: mpsc::UnboundedReceiver<(Option<String>, WebSocketStream<TcpStream>)>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for FakeNode {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    // The handshake callback's error type is tungstenite's, not ours.
    #[allow(clippy::result_large_err)]
    async fn fake_node() -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, sockets) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let mut auth = None;
                let ws =
                    tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
                        assert_eq!(req.uri().path(), "/api/v1/agent/ws");
                        auth = req
                            .headers()
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string());
                        Ok(resp)
                    })
                    .await
                    .unwrap();
                if tx.send((auth, ws)).is_err() {
                    return;
                }
            }
        });
        FakeNode { url, sockets, task }
    }

    async fn next_json(ws: &mut WebSocketStream<TcpStream>) -> serde_json::Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("a message in time")
                .expect("open")
                .unwrap();
            if let Message::Text(t) = msg {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    fn config() -> AgentConfig {
        crate::testkit::sample_config(None)
    }

    struct Agent {
        report: watch::Sender<Report>,
        configs: mpsc::UnboundedReceiver<Incoming>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
        _dir: tempfile::TempDir,
    }

    fn start_agent(urls: &[&str], held: Report, tweak: impl FnOnce(&mut Dialer)) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "secret-token\n").unwrap();
        let servers = urls.iter().map(|u| u.parse().unwrap()).collect();
        let mut dialer = Dialer::new(servers, token, None, "PUB".into(), "host-1".into());
        tweak(&mut dialer);
        let (report, report_rx) = watch::channel(held);
        let (configs_tx, configs) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(dialer, report_rx, configs_tx, stop_rx));
        Agent {
            report,
            configs,
            stop,
            task,
            _dir: dir,
        }
    }

    #[tokio::test]
    async fn the_hello_carries_the_key_the_host_and_what_the_agent_holds_then_the_last_status() {
        let mut node = fake_node().await;
        let held = Report {
            applied_version: 7,
            config_hash: Some("abc".into()),
            status: Some(Status {
                applied_version: 7,
                errors: vec![ModuleError {
                    module: "dns".into(),
                    message: "port busy".into(),
                }],
            }),
            resync_requests: 0,
        };
        let agent = start_agent(&[&node.url], held, |_| {});
        let (auth, mut ws) = node.sockets.recv().await.unwrap();
        assert_eq!(auth.as_deref(), Some("Bearer secret-token"));
        assert_eq!(
            next_json(&mut ws).await,
            serde_json::json!({"type": "hello", "public_key": "PUB", "hostname": "host-1",
                "applied_version": 7, "config_hash": "abc", "features": ["delta"]})
        );
        assert_eq!(
            next_json(&mut ws).await,
            serde_json::json!({"type": "status", "applied_version": 7, "ok": false,
                "errors": [{"module": "dns", "message": "port busy"}]})
        );
        agent.stop.send(true).unwrap();
        agent.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_received_config_reaches_the_runner_and_a_published_status_reaches_the_node() {
        let mut node = fake_node().await;
        let mut agent = start_agent(&[&node.url], Report::default(), |_| {});
        let (_, mut ws) = node.sockets.recv().await.unwrap();
        assert_eq!(next_json(&mut ws).await["applied_version"], 0);
        let msg = ServerMessage::Config {
            version: 12,
            config: Box::new(config()),
        };
        ws.send(Message::Text(serde_json::to_string(&msg).unwrap().into()))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), agent.configs.recv())
            .await
            .unwrap()
            .unwrap();
        let Incoming::Whole(got) = got else {
            panic!("a whole config arrives whole: {got:?}")
        };
        assert_eq!(got.version, 12);
        assert_eq!(got.config, config());
        agent.report.send_replace(Report {
            applied_version: 12,
            config_hash: Some("h".into()),
            status: Some(Status {
                applied_version: 12,
                errors: vec![],
            }),
            resync_requests: 0,
        });
        assert_eq!(
            next_json(&mut ws).await,
            serde_json::json!({"type": "status", "applied_version": 12, "ok": true, "errors": []})
        );
        agent.stop.send(true).unwrap();
        agent.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_delta_reaches_the_runner_as_a_delta_and_a_resync_request_reaches_the_node() {
        let mut node = fake_node().await;
        let mut agent = start_agent(&[&node.url], Report::default(), |_| {});
        let (_, mut ws) = node.sockets.recv().await.unwrap();
        next_json(&mut ws).await; // hello
        let delta = raftwire_api::delta::ConfigDelta {
            wg_quick: Some(raftwire_api::delta::TextSplice {
                head: 0,
                tail: 0,
                middle: "[Interface]\n".into(),
            }),
            ..Default::default()
        };
        let msg = ServerMessage::Delta {
            version: 13,
            base: 12,
            delta: Box::new(delta.clone()),
        };
        ws.send(Message::Text(serde_json::to_string(&msg).unwrap().into()))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), agent.configs.recv())
            .await
            .unwrap()
            .unwrap();
        let Incoming::Delta {
            version: 13,
            base: 12,
            delta: got,
        } = got
        else {
            panic!("the delta as sent: {got:?}")
        };
        assert_eq!(got, delta);
        agent.report.send_modify(|r| r.resync_requests += 1);
        assert_eq!(
            next_json(&mut ws).await,
            serde_json::json!({"type": "resync"})
        );
        agent.stop.send(true).unwrap();
        agent.task.await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_agent_pings_and_gives_up_on_a_silent_node() {
        let mut node = fake_node().await;
        let agent = start_agent(&[&node.url], Report::default(), |d| {
            d.ping_every = Duration::from_millis(100);
            d.silence_limit = Duration::from_millis(600);
        });
        let (_, mut ws) = node.sockets.recv().await.unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "hello");
        assert_eq!(
            next_json(&mut ws).await,
            serde_json::json!({"type": "ping"})
        );
        // The fake node never writes: the agent drops it and connects again.
        let started = Instant::now();
        let (_, mut again) = tokio::time::timeout(Duration::from_secs(5), node.sockets.recv())
            .await
            .expect("a reconnect after the silence limit")
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert_eq!(next_json(&mut again).await["type"], "hello");
        agent.stop.send(true).unwrap();
        agent.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_closed_connection_moves_on_to_the_next_server() {
        let mut first = fake_node().await;
        let mut second = fake_node().await;
        // A server nobody listens on comes first: refused, then the next.
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let agent = start_agent(&[&dead, &first.url, &second.url], Report::default(), |_| {});
        let (_, mut ws) = tokio::time::timeout(Duration::from_secs(5), first.sockets.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "hello");
        ws.close(None).await.unwrap();
        drop(ws);
        let (_, mut ws2) = tokio::time::timeout(Duration::from_secs(5), second.sockets.recv())
            .await
            .expect("the next server after a close")
            .unwrap();
        assert_eq!(next_json(&mut ws2).await["type"], "hello");
        agent.stop.send(true).unwrap();
        agent.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_ca_file_or_one_without_certificates_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(tls_config(&dir.path().join("missing.pem")).is_err());
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let err = tls_config(&empty).unwrap_err();
        assert!(format!("{err:#}").contains("no certificate"), "{err:#}");
    }
}
