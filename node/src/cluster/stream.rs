//! Raft's frequent RPCs (append-entries, heartbeats, votes) over persistent connections.
//!
//! Every entry a leader commits costs each follower an append-entries round trip, and the
//! next commit index one more. As one HTTP request each (`client.rs`), a round trip paid for
//! a pooled HTTP client's connection task, the URL parsed again and the headers written and
//! parsed on both sides: about a fifth of the leader's CPU per write and a tenth of a
//! write's latency on a loaded 2-core machine. Here a node keeps a few WebSocket connections
//! to each other node, opened on the same port and authenticated by the cluster secret like
//! every internal call (`GET /internal/raft/stream`), and a call is one binary message each
//! way: a kind byte and the bincode request, answered by the bincode result, strictly one at
//! a time per connection. The calling task drives its socket itself.
//!
//! A node that does not serve the stream (an earlier release, during a rolling upgrade)
//! answers the upgrade with an HTTP error: its calls go by POST again, and the stream is
//! tried again after [`RETRY_UNSUPPORTED`]. Snapshots, forwarded writes and the rest stay
//! POSTs: they are rare or large.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message as WsMessage};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::client::RpcFailure;
use super::internal::answer_append;
use super::rpc::{decode, encode, INTERNAL_BODY_LIMIT, INTERNAL_STREAM};
use crate::app::App;

/// What a message on the stream asks for: its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Append = 1,
    Vote = 2,
}

impl Kind {
    fn of(byte: u8) -> Option<Kind> {
        match byte {
            1 => Some(Kind::Append),
            2 => Some(Kind::Vote),
            _ => None,
        }
    }
}

/// Idle connections kept per node: replication and votes use one each, a linearizable
/// read's heartbeat round another.
const MAX_IDLE: usize = 4;

/// How long a node that refused the stream is called by POST before the stream is tried
/// again (it may have been upgraded meanwhile).
pub const RETRY_UNSUPPORTED: Duration = Duration::from_secs(30);

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Default)]
struct Target {
    idle: Vec<Ws>,
    unsupported_since: Option<Instant>,
}

/// The calling side: connections to the other nodes, by base URL. Cheap to clone.
#[derive(Clone)]
pub struct Streams {
    secret: Arc<String>,
    /// For `https://` nodes: the certificates trusted (the system's roots when `None`).
    tls: Option<Arc<rustls::ClientConfig>>,
    targets: Arc<Mutex<HashMap<String, Target>>>,
}

/// Why a connection could not be opened.
enum Dial {
    /// The node answered the upgrade with an HTTP error other than a refused secret: it
    /// does not serve the stream.
    Unsupported,
    Failed(RpcFailure),
}

impl Streams {
    pub fn new(secret: Arc<String>, tls: Option<Arc<rustls::ClientConfig>>) -> Streams {
        Streams {
            secret,
            tls,
            targets: Default::default(),
        }
    }

    /// Calls `base` with `req` over a stream within `timeout`; `Ok(None)` when that node
    /// does not serve streams (call it by POST instead).
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        base: &str,
        kind: Kind,
        req: &Req,
        timeout: Duration,
    ) -> Result<Option<Resp>, RpcFailure> {
        let mut message = vec![kind as u8];
        message.extend(encode(req).map_err(RpcFailure::Decode)?);
        // A connection dropped by a timeout goes with the future: it may hold half a call.
        let answer = tokio::time::timeout(timeout, self.call_within(base, message.into()))
            .await
            .map_err(|_| RpcFailure::Unreachable(format!("no answer within {timeout:?}")))??;
        match answer {
            Some(bytes) => decode(&bytes).map(Some).map_err(RpcFailure::Decode),
            None => Ok(None),
        }
    }

    /// `message` is shared, not copied, when a call on an idle connection is retried.
    async fn call_within(&self, base: &str, message: Bytes) -> Result<Option<Bytes>, RpcFailure> {
        if let Some(idle) = self.take_idle(base) {
            // An idle connection may have been closed by the other side (a restart) since
            // its last call: one failure on it is retried on a new one. Raft tolerates a
            // request delivered twice.
            if let Ok(answer) = exchange(idle, message.clone(), self, base).await {
                return Ok(Some(answer));
            }
        } else if self.unsupported(base) {
            return Ok(None);
        }
        let ws = match self.dial(base).await {
            Ok(ws) => ws,
            Err(Dial::Unsupported) => {
                self.lock()
                    .entry(base.to_string())
                    .or_default()
                    .unsupported_since = Some(Instant::now());
                return Ok(None);
            }
            Err(Dial::Failed(e)) => return Err(e),
        };
        exchange(ws, message, self, base).await.map(Some)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Target>> {
        self.targets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_idle(&self, base: &str) -> Option<Ws> {
        self.lock().get_mut(base).and_then(|t| t.idle.pop())
    }

    fn put_idle(&self, base: &str, ws: Ws) {
        let mut targets = self.lock();
        let target = targets.entry(base.to_string()).or_default();
        target.unsupported_since = None;
        if target.idle.len() < MAX_IDLE {
            target.idle.push(ws);
        }
    }

    fn unsupported(&self, base: &str) -> bool {
        self.lock()
            .get(base)
            .and_then(|t| t.unsupported_since)
            .is_some_and(|since| since.elapsed() < RETRY_UNSUPPORTED)
    }

    async fn dial(&self, base: &str) -> Result<Ws, Dial> {
        let not_sent = |e: String| Dial::Failed(RpcFailure::NotSent(e));
        let base = base.trim_end_matches('/');
        let (url, tls) = match base.split_once("://") {
            Some(("http", rest)) => (format!("ws://{rest}{INTERNAL_STREAM}"), false),
            Some(("https", rest)) => (format!("wss://{rest}{INTERNAL_STREAM}"), true),
            _ => return Err(not_sent(format!("{base} is not an http(s) URL"))),
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| not_sent(e.to_string()))?;
        let auth = format!("Bearer {}", self.secret)
            .parse()
            .map_err(|_| not_sent("the cluster secret is not a valid header value".into()))?;
        request.headers_mut().insert("authorization", auth);
        let connector = match (tls, &self.tls) {
            (true, Some(config)) => Some(Connector::Rustls(config.clone())),
            _ => None,
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(INTERNAL_BODY_LIMIT))
            .max_frame_size(Some(INTERNAL_BODY_LIMIT));
        use tokio_tungstenite::tungstenite::Error;
        match tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            connector,
        )
        .await
        {
            Ok((ws, _)) => Ok(ws),
            Err(Error::Http(resp)) if resp.status().as_u16() == 401 => Err(Dial::Failed(
                RpcFailure::Rejected(401, "cluster secret refused".into()),
            )),
            Err(Error::Http(_)) => Err(Dial::Unsupported),
            Err(e) => Err(not_sent(e.to_string())),
        }
    }
}

/// Sends one request on `ws` and reads its answer; the connection goes back to the pool
/// only after a whole call.
async fn exchange(
    mut ws: Ws,
    message: Bytes,
    streams: &Streams,
    base: &str,
) -> Result<Bytes, RpcFailure> {
    let lost = |e: String| RpcFailure::Unreachable(format!("stream to {base}: {e}"));
    ws.send(WsMessage::Binary(message))
        .await
        .map_err(|e| lost(e.to_string()))?;
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Binary(answer))) => {
                streams.put_idle(base, ws);
                return Ok(answer);
            }
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
            Some(Ok(WsMessage::Text(_))) => return Err(lost("a text message".into())),
            Some(Ok(WsMessage::Close(_))) | None => return Err(lost("closed".into())),
            Some(Err(e)) => return Err(lost(e.to_string())),
        }
    }
}

/// The answering side: `GET /internal/raft/stream` (behind the cluster secret).
pub async fn serve(State(app): State<App>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(INTERNAL_BODY_LIMIT)
        .max_frame_size(INTERNAL_BODY_LIMIT)
        .on_upgrade(move |socket| answer_calls(app, socket))
}

/// Answers the calls on one connection, in order, until it closes or the node stops.
async fn answer_calls(app: App, mut socket: WebSocket) {
    let mut stopping = app.stopping.clone();
    loop {
        let message = tokio::select! {
            m = socket.recv() => m,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let bytes = match message {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Text(_) | Message::Close(_))) | Some(Err(_)) | None => break,
        };
        let Some((kind, body)) = bytes.split_first() else {
            break;
        };
        // A request this node cannot read ends the connection: the caller sees it closed.
        let answer = match Kind::of(*kind) {
            Some(Kind::Append) => match decode(body) {
                Ok(req) => encode(&answer_append(&app, req).await),
                Err(e) => Err(e),
            },
            Some(Kind::Vote) => match decode(body) {
                Ok(req) => encode(&app.raft.vote(req).await),
                Err(e) => Err(e),
            },
            None => Err(format!("unknown call kind {kind}")),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!("closing a Raft stream: {e}");
                break;
            }
        };
        if socket.send(Message::Binary(answer.into())).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::get;
    use axum::Router;

    use super::*;

    /// What the test server does with a connection.
    #[derive(Clone, Copy, PartialEq)]
    enum Behaviour {
        /// Answers every call with "kind:request".
        Echo,
        /// Answers one call, then closes the connection (as a restarted node would).
        EchoOnceThenClose,
        /// Reads calls and never answers.
        Silent,
    }

    struct Server {
        base: String,
        upgrades: Arc<AtomicUsize>,
        requests: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// A server on loopback that serves the stream (or not, with `None`) and counts the
    /// upgrades and the HTTP requests it got.
    async fn server(behaviour: Option<Behaviour>, status: Option<u16>) -> Server {
        let upgrades = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let mut router = Router::new();
        if let Some(behaviour) = behaviour {
            let upgrades = upgrades.clone();
            router = router.route(
                INTERNAL_STREAM,
                get(move |upgrade: WebSocketUpgrade| async move {
                    upgrades.fetch_add(1, Ordering::SeqCst);
                    upgrade.on_upgrade(move |socket| echo(socket, behaviour))
                }),
            );
        }
        if let Some(status) = status {
            router = router.route(
                INTERNAL_STREAM,
                get(move || async move { axum::http::StatusCode::from_u16(status).unwrap() }),
            );
        }
        let counted = requests.clone();
        let router = router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Server {
            base,
            upgrades,
            requests,
            task,
        }
    }

    async fn echo(mut socket: WebSocket, behaviour: Behaviour) {
        while let Some(Ok(Message::Binary(bytes))) = socket.recv().await {
            if behaviour == Behaviour::Silent {
                continue;
            }
            let (kind, body) = bytes.split_first().unwrap();
            let request: String = decode(body).unwrap();
            let answer = encode(&format!("{kind}:{request}")).unwrap();
            socket.send(Message::Binary(answer.into())).await.unwrap();
            if behaviour == Behaviour::EchoOnceThenClose {
                return;
            }
        }
    }

    fn streams() -> Streams {
        Streams::new(Arc::new("secret".into()), None)
    }

    const LONG: Duration = Duration::from_secs(10);

    async fn call(s: &Streams, base: &str, req: &str) -> Result<Option<String>, RpcFailure> {
        s.call(base, Kind::Vote, &req.to_string(), LONG).await
    }

    #[tokio::test]
    async fn calls_in_a_row_share_one_connection_and_each_gets_its_own_answer() {
        let server = server(Some(Behaviour::Echo), None).await;
        let s = streams();
        for i in 0..20 {
            let answer = call(&s, &server.base, &format!("call {i}")).await.unwrap();
            assert_eq!(answer.as_deref(), Some(format!("2:call {i}").as_str()));
        }
        assert_eq!(server.upgrades.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_calls_each_get_their_own_answer_on_connections_kept_for_later() {
        let server = server(Some(Behaviour::Echo), None).await;
        let s = streams();
        let calls = (0..8).map(|i| {
            let (s, base) = (s.clone(), server.base.clone());
            async move { (i, call(&s, &base, &format!("c{i}")).await.unwrap()) }
        });
        for (i, answer) in futures::future::join_all(calls).await {
            assert_eq!(answer, Some(format!("2:c{i}")));
        }
        let opened = server.upgrades.load(Ordering::SeqCst);
        assert!((1..=8).contains(&opened), "{opened} connections");
        // At most MAX_IDLE stay open; the next calls reuse them.
        for i in 0..8 {
            call(&s, &server.base, &format!("d{i}")).await.unwrap();
        }
        assert_eq!(server.upgrades.load(Ordering::SeqCst), opened);
    }

    #[tokio::test]
    async fn a_connection_the_other_side_closed_is_replaced_and_the_call_still_answered() {
        let server = server(Some(Behaviour::EchoOnceThenClose), None).await;
        let s = streams();
        for i in 0..3 {
            let answer = call(&s, &server.base, &format!("r{i}")).await.unwrap();
            assert_eq!(answer, Some(format!("2:r{i}")));
        }
        assert_eq!(server.upgrades.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_node_without_streams_is_called_by_post_and_not_asked_again_for_a_while() {
        let server = server(None, None).await;
        let s = streams();
        assert_eq!(call(&s, &server.base, "x").await.unwrap(), None);
        assert_eq!(call(&s, &server.base, "y").await.unwrap(), None);
        assert_eq!(
            server.requests.load(Ordering::SeqCst),
            1,
            "the refused upgrade was tried again before RETRY_UNSUPPORTED"
        );
    }

    #[tokio::test]
    async fn a_refused_secret_is_a_rejection_not_a_node_without_streams() {
        let server = server(None, Some(401)).await;
        let s = streams();
        match call(&s, &server.base, "x").await {
            Err(RpcFailure::Rejected(401, _)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_node_that_is_not_listening_is_reported_not_sent() {
        let base = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        match call(&streams(), &base, "x").await {
            Err(e @ RpcFailure::NotSent(_)) => assert!(e.is_unreachable()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_call_without_an_answer_times_out_and_its_connection_is_not_used_again() {
        let server = server(Some(Behaviour::Silent), None).await;
        let s = streams();
        for _ in 0..2 {
            let r = s
                .call::<_, String>(
                    &server.base,
                    Kind::Append,
                    &"x".to_string(),
                    Duration::from_millis(200),
                )
                .await;
            assert!(matches!(r, Err(RpcFailure::Unreachable(_))), "{r:?}");
        }
        // A reused connection would have delivered the first call's late answer to the
        // second: each call had a connection of its own.
        assert_eq!(server.upgrades.load(Ordering::SeqCst), 2);
    }
}
