//! TLS (rustls, ring) for the API and node-to-node traffic: `--tls-cert`/`--tls-key` make a
//! node serve HTTPS; `--tls-ca` (default: the node's own certificate, for a shared
//! self-signed one) is what it trusts when it calls other nodes. Without these flags the
//! node speaks plain HTTP, for loopback and trusted networks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// Certificate and key a node serves, and the anchor it trusts for other nodes.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: Option<PathBuf>,
}

impl TlsFiles {
    /// The PEM file with the certificates trusted for calls to other nodes.
    pub fn trust_anchor(&self) -> &Path {
        self.ca.as_deref().unwrap_or(&self.cert)
    }
}

/// Makes ring rustls' process-wide crypto provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The TLS client side of the node's calls to other nodes (its HTTP client and its Raft
/// streams): it trusts exactly the certificates in `ca` (PEM).
pub fn client_config(ca: &Path) -> anyhow::Result<std::sync::Arc<rustls::ClientConfig>> {
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
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// An HTTP(S) client that trusts exactly the certificates in `ca` (PEM) when given, and the
/// platform's roots otherwise.
pub fn http_client(
    ca: Option<&Path>,
    connect_timeout: Duration,
) -> anyhow::Result<reqwest::Client> {
    let tls = ca.map(client_config).transpose()?;
    http_client_with(tls.as_deref(), connect_timeout)
}

/// An HTTP(S) client that trusts what `tls` trusts (from [`client_config`]), or the
/// platform's roots without it.
pub fn http_client_with(
    tls: Option<&rustls::ClientConfig>,
    connect_timeout: Duration,
) -> anyhow::Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder().connect_timeout(connect_timeout);
    if let Some(tls) = tls {
        builder = builder.use_preconfigured_tls(tls.clone());
    }
    builder.build().context("building the HTTP client")
}
