//! The DNS server of a jump peer: answers its network's zone on the jump's overlay addresses
//! (UDP and TCP) and forwards every other name to the network's upstream servers.
//!
//! The answers come from [`raftwire_api::dns::ZoneIndex`], the same code the node uses to
//! define the zone, so node and agent can never disagree on a name (NODATA versus NXDOMAIN,
//! wildcards matching several labels, the most specific match winning, case). hickory's
//! server only carries the sockets and the wire format; the request handler here is a thin
//! adapter from a parsed query to a [`raftwire_api::dns::Answer`] and back.
//!
//! - A configuration without DNS (a regular peer) stops every listener.
//! - New records replace the zone in place: listeners keep their sockets, and a query in
//!   flight sees either the old zone or the new one, never a gap.
//! - A listener is bound per overlay address; one whose address does not exist yet (the
//!   addresses module may not have added it) is reported and tried again on the next
//!   converge, while the others already serve.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType as WireType};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use raftwire_api::agent::{AgentConfig, DnsConfig};
use raftwire_api::dns::{Answer, DnsRecord, RecordType, ZoneIndex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Module, Settings};

/// TTL of the zone's answers (and of negative answers, via the SOA): short, because
/// records follow the network's peers and mappings.
const TTL: u32 = 60;
/// How long one upstream may take to answer a forwarded query before the next is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// The port upstream servers listen on.
const UPSTREAM_PORT: u16 = 53;
/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// How long stopping a listener may take before its task is aborted.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The DNS module (`dns`).
pub struct Dns {
    runtime: Handle,
    port: u16,
    /// What every listener answers from; replaced whole when the configuration changes.
    zone: Arc<RwLock<Zone>>,
    /// The configuration `zone` was built from, to rebuild it only when that changes.
    applied: Option<(String, Arc<[DnsRecord]>, Vec<IpAddr>)>,
    upstream_port: u16,
    listeners: BTreeMap<IpAddr, Listener>,
}

/// What a query is answered from.
struct Zone {
    index: ZoneIndex,
    /// The apex's SOA, put in the authority section of negative answers.
    soa: Option<Arc<Record>>,
    upstreams: Vec<SocketAddr>,
}

impl Zone {
    fn empty() -> Zone {
        Zone {
            index: ZoneIndex::default(),
            soa: None,
            upstreams: Vec::new(),
        }
    }

    fn new(dns: &DnsConfig, upstream_port: u16) -> Zone {
        let index = ZoneIndex::new(&dns.zone, &dns.records);
        let soa = soa_record(index.zone()).map(Arc::new);
        Zone {
            index,
            soa,
            upstreams: dns
                .upstreams
                .iter()
                .map(|ip| SocketAddr::new(*ip, upstream_port))
                .collect(),
        }
    }
}

/// One bound address: a hickory server with a UDP socket and a TCP listener on it.
struct Listener {
    /// The UDP socket's local address; TCP listens on the same address and port.
    local: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// Receives the server task's result when it ends (stopped or failed).
    done: mpsc::Receiver<Result<(), String>>,
    task: JoinHandle<()>,
}

impl Dns {
    pub fn new(settings: &Settings) -> Dns {
        Dns {
            runtime: settings.runtime.clone(),
            port: settings.dns_port,
            zone: Arc::new(RwLock::new(Zone::empty())),
            applied: None,
            upstream_port: UPSTREAM_PORT,
            listeners: BTreeMap::new(),
        }
    }

    /// Forwards to upstreams on `port` instead of 53 (a test's own upstream server).
    pub fn with_upstream_port(mut self, port: u16) -> Dns {
        self.upstream_port = port;
        self
    }

    /// The addresses the server listens on (UDP and TCP share each), in address order.
    /// With port 0 in the settings each listener has a port of its own choosing.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.values().map(|l| l.local).collect()
    }

    fn set_zone(&mut self, dns: Option<&DnsConfig>) {
        let wanted = dns.map(|d| (d.zone.clone(), d.records.clone(), d.upstreams.clone()));
        if wanted == self.applied {
            return;
        }
        let zone = match dns {
            Some(d) => Zone::new(d, self.upstream_port),
            None => Zone::empty(),
        };
        // A poisoned lock only means a reader panicked; the zone itself is replaced whole.
        *self.zone.write().unwrap_or_else(|e| e.into_inner()) = zone;
        self.applied = wanted;
    }

    /// Binds UDP and TCP on `ip` and starts serving them.
    fn start(&self, ip: IpAddr) -> Result<Listener, String> {
        let (udp, tcp) = bind(ip, self.port)?;
        let local = udp
            .local_addr()
            .map_err(|e| format!("cannot read the address of the socket on {ip}: {e}"))?;
        let handler = Handler {
            zone: Arc::clone(&self.zone),
        };
        // Registering sockets with the reactor and spawning need the runtime's context.
        let _entered = self.runtime.enter();
        let udp = tokio::net::UdpSocket::from_std(udp)
            .map_err(|e| format!("cannot serve UDP on {local}: {e}"))?;
        let tcp = tokio::net::TcpListener::from_std(tcp)
            .map_err(|e| format!("cannot serve TCP on {local}: {e}"))?;
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        let (stop, stopped) = oneshot::channel::<()>();
        let (done_tx, done) = mpsc::sync_channel(1);
        let task = self.runtime.spawn(async move {
            // A dropped sender (the module went away) stops the server too.
            let failed = tokio::select! {
                r = server.block_until_done() => Some(r),
                _ = stopped => None,
            };
            let result = match failed {
                Some(Ok(())) => Err("the server stopped by itself".to_string()),
                Some(Err(e)) => Err(format!("the server failed: {e}")),
                None => server
                    .shutdown_gracefully()
                    .await
                    .map_err(|e| format!("the server failed while stopping: {e}")),
            };
            let _ = done_tx.try_send(result);
        });
        Ok(Listener {
            local,
            stop: Some(stop),
            done,
            task,
        })
    }

    /// Stops the listener and waits until its sockets are closed.
    fn stop(&self, mut listener: Listener) -> Result<(), String> {
        let local = listener.local;
        if let Some(stop) = listener.stop.take() {
            let _ = stop.send(());
        }
        // Waiting on a channel rather than `Handle::block_on`: this works from any thread
        // that is not the runtime's only worker.
        match listener.done.recv_timeout(STOP_TIMEOUT) {
            Ok(Ok(())) => Ok(()),
            // It had already failed: its sockets are gone, which is what stopping wants.
            Ok(Err(_)) => Ok(()),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                listener.task.abort();
                Err(format!(
                    "the DNS server on {local} did not stop within {STOP_TIMEOUT:?}; aborted"
                ))
            }
        }
    }

    fn stop_all(&mut self) -> Result<(), String> {
        let listeners = std::mem::take(&mut self.listeners);
        let errors: Vec<String> = listeners
            .into_values()
            .filter_map(|l| self.stop(l).err())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

impl Module for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn converge(&mut self, desired: &AgentConfig) -> Result<(), String> {
        let Some(dns) = desired.dns.as_ref() else {
            self.set_zone(None);
            return self.stop_all();
        };
        self.set_zone(Some(dns));
        let mut errors = Vec::new();

        // Observe: a listener whose server ended by itself serves nothing any more.
        let dead: Vec<IpAddr> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.task.is_finished())
            .map(|(ip, _)| *ip)
            .collect();
        for ip in dead {
            if let Some(l) = self.listeners.remove(&ip) {
                if let Ok(Err(e)) = l.done.try_recv() {
                    errors.push(format!("DNS on {}: {e}; restarting it", l.local));
                }
            }
        }

        // Diff and apply: stop what is no longer wanted, start what is missing.
        let gone: Vec<IpAddr> = self
            .listeners
            .keys()
            .filter(|ip| !dns.listen.contains(ip))
            .copied()
            .collect();
        for ip in gone {
            if let Some(l) = self.listeners.remove(&ip) {
                if let Err(e) = self.stop(l) {
                    errors.push(e);
                }
            }
        }
        for ip in &dns.listen {
            if self.listeners.contains_key(ip) {
                continue;
            }
            match self.start(*ip) {
                Ok(l) => {
                    self.listeners.insert(*ip, l);
                }
                Err(e) => errors.push(e),
            }
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn remove(&mut self) -> Result<(), String> {
        self.set_zone(None);
        self.stop_all()
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        // Without `remove`, still stop serving; the sockets close as the tasks end.
        for l in self.listeners.values_mut() {
            if let Some(stop) = l.stop.take() {
                let _ = stop.send(());
            }
        }
    }
}

/// Binds a UDP socket and a TCP listener on the same address and port; with port 0, on the
/// port the UDP socket got (tried a few times, since another program may hold it for TCP).
fn bind(ip: IpAddr, port: u16) -> Result<(std::net::UdpSocket, std::net::TcpListener), String> {
    let attempts = if port == 0 { 8 } else { 1 };
    let mut last = String::new();
    for _ in 0..attempts {
        let addr = SocketAddr::new(ip, port);
        let udp = std::net::UdpSocket::bind(addr)
            .map_err(|e| format!("cannot listen on {addr} (UDP): {e}"))?;
        let bound = udp
            .local_addr()
            .map_err(|e| format!("cannot read the address of the socket on {addr}: {e}"))?;
        match std::net::TcpListener::bind(bound) {
            Ok(tcp) => {
                let nonblocking = |r: std::io::Result<()>| {
                    r.map_err(|e| format!("cannot make the sockets on {bound} non-blocking: {e}"))
                };
                nonblocking(udp.set_nonblocking(true))?;
                nonblocking(tcp.set_nonblocking(true))?;
                return Ok((udp, tcp));
            }
            Err(e) => last = format!("cannot listen on {bound} (TCP): {e}"),
        }
    }
    Err(last)
}

/// The apex's SOA (the zone's negative TTL is [`TTL`]).
fn soa_record(zone: &str) -> Option<Record> {
    let apex = Name::from_ascii(format!("{zone}.")).ok()?;
    let rname = Name::from_ascii(format!("hostmaster.{zone}.")).ok()?;
    let soa = SOA::new(apex.clone(), rname, 1, 3600, 600, 86400, TTL);
    Some(Record::from_rdata(apex, TTL, RData::SOA(soa)))
}

/// What the zone answers for a query of any type: A and AAAA as the zone says; ANY with
/// both; every other type exists nowhere in the zone, so NODATA where the name exists.
fn zone_answer(index: &ZoneIndex, qname: &str, qtype: WireType) -> Answer {
    match qtype {
        WireType::A => index.lookup(qname, RecordType::A),
        WireType::AAAA => index.lookup(qname, RecordType::AAAA),
        WireType::ANY => match (
            index.lookup(qname, RecordType::A),
            index.lookup(qname, RecordType::AAAA),
        ) {
            (Answer::Records(mut a), Answer::Records(aaaa)) => {
                a.extend(aaaa);
                Answer::Records(a)
            }
            (Answer::Records(a), _) => Answer::Records(a),
            (_, aaaa) => aaaa,
        },
        // Whether a name exists does not depend on the type asked.
        _ => match index.lookup(qname, RecordType::A) {
            Answer::Records(_) => Answer::NoData,
            other => other,
        },
    }
}

/// hickory's request handler: answers from the shared [`Zone`].
struct Handler {
    zone: Arc<RwLock<Zone>>,
}

/// How a query is answered, decided under the zone's lock and sent after it.
enum Reply {
    Zone {
        answer: Answer,
        soa: Option<Arc<Record>>,
    },
    Forward(Vec<SocketAddr>),
    Refused,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512));
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }

        if request.metadata.message_type != MessageType::Query
            || request.metadata.op_code != OpCode::Query
        {
            return send(
                &mut response_handle,
                request,
                builder.error_msg(&request.metadata, ResponseCode::NotImp),
            )
            .await;
        }
        let Ok(info) = request.request_info() else {
            return send(
                &mut response_handle,
                request,
                builder.error_msg(&request.metadata, ResponseCode::FormErr),
            )
            .await;
        };
        let query = info.query;
        let qname = query.name().to_string();

        let reply = {
            let zone = self.zone.read().unwrap_or_else(|e| e.into_inner());
            if !zone.index.contains(&qname) {
                Reply::Forward(zone.upstreams.clone())
            } else if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
                Reply::Refused
            } else {
                Reply::Zone {
                    answer: zone_answer(&zone.index, &qname, query.query_type()),
                    soa: zone.soa.clone(),
                }
            }
        };

        match reply {
            Reply::Refused => {
                send(
                    &mut response_handle,
                    request,
                    builder.error_msg(&request.metadata, ResponseCode::Refused),
                )
                .await
            }
            Reply::Forward(upstreams) => {
                let Some(mut message) = forward(&upstreams, request).await else {
                    let mut metadata = Metadata::response_from_request(&request.metadata);
                    metadata.response_code = ResponseCode::ServFail;
                    metadata.recursion_available = true;
                    return send(
                        &mut response_handle,
                        request,
                        builder.build_no_records(metadata),
                    )
                    .await;
                };
                // The upstream's header and records, under the client's id and with the
                // client's buffer size (the response must fit what the client accepts).
                let mut metadata = message.metadata;
                metadata.id = request.metadata.id;
                let upstream_edns = message.edns.take().map(|mut e| {
                    e.set_max_payload(request.max_payload().max(512));
                    e
                });
                let mut builder = MessageResponseBuilder::from_message_request(request);
                if request.edns.is_some() {
                    if let Some(e) = upstream_edns.as_ref().or(edns.as_ref()) {
                        builder.edns(e);
                    }
                }
                let response = builder.build(
                    metadata,
                    message.answers.iter(),
                    message.authorities.iter(),
                    std::iter::empty(),
                    message.additionals.iter(),
                );
                send(&mut response_handle, request, response).await
            }
            Reply::Zone { answer, soa } => {
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.authoritative = true;
                metadata.recursion_available = true;
                let owner = query.original().name().clone();
                let answers: Vec<Record> = match &answer {
                    Answer::Records(addrs) => addrs
                        .iter()
                        .map(|addr| {
                            let data = match addr {
                                IpAddr::V4(v4) => RData::A(A(*v4)),
                                IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                            };
                            Record::from_rdata(owner.clone(), TTL, data)
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let negative_soa = match &answer {
                    Answer::Records(_) => None,
                    Answer::NxDomain => {
                        metadata.response_code = ResponseCode::NXDomain;
                        soa
                    }
                    Answer::NoData | Answer::NotInZone => soa,
                };
                let response = builder.build(
                    metadata,
                    answers.iter(),
                    std::iter::empty(),
                    negative_soa.as_deref(),
                    std::iter::empty(),
                );
                send(&mut response_handle, request, response).await
            }
        }
    }
}

/// Sends `response`; a failure to send is logged (the client sees a timeout).
async fn send<'a, R: ResponseHandler>(
    handle: &mut R,
    request: &Request,
    response: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> ResponseInfo {
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(src = %request.src(), "cannot send a DNS response: {e}");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}

/// Forwards the client's query as it came (same bytes) to each upstream in order, over the
/// protocol the client used; the first well-formed answer wins.
async fn forward(upstreams: &[SocketAddr], request: &Request) -> Option<Message> {
    let query = request.as_slice();
    for upstream in upstreams {
        let exchange = async {
            match request.protocol() {
                Protocol::Tcp => exchange_tcp(*upstream, query).await,
                _ => exchange_udp(*upstream, query, request.metadata.id).await,
            }
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, exchange).await {
            Ok(Ok(message)) => return Some(message),
            Ok(Err(e)) => tracing::debug!(%upstream, "upstream DNS server failed: {e}"),
            Err(_) => tracing::debug!(%upstream, "upstream DNS server did not answer in time"),
        }
    }
    None
}

async fn exchange_udp(upstream: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Message> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // A socket of its own per query (connected: only the upstream's datagrams arrive), so
    // answers cannot be confused between clients.
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id == id && m.metadata.message_type == MessageType::Response => {
                return Ok(m)
            }
            // A stray or malformed datagram: keep waiting for the real answer.
            _ => continue,
        }
    }
}

async fn exchange_tcp(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Message> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let len = u16::try_from(query.len()).map_err(|_| invalid("query too long for TCP"))?;
    let mut stream = tokio::net::TcpStream::connect(upstream).await?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    Message::from_vec(&buf).map_err(|e| invalid(&format!("malformed answer: {e}")))
}
