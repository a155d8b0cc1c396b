//! HTTPS for the viewer: rustls (ring) with a configured or a generated self-signed
//! certificate, and an axum listener that finishes TLS handshakes off the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::{Error, Result};

/// A slow or silent client may not hold a handshake slot longer than this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the server to take them.
const BACKLOG: usize = 64;

/// A certificate chain and its private key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A new self-signed certificate for `names` (host names or IP addresses). Staff check it by
    /// its [`TlsIdentity::fingerprint`], which the server prints when it starts.
    pub fn self_signed(names: Vec<String>) -> Result<TlsIdentity> {
        let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names)
            .map_err(|e| Error::Tls(format!("cannot generate a certificate: {e}")))?;
        Ok(TlsIdentity {
            cert_pem: cert.pem(),
            key_pem: key_pair.serialize_pem(),
        })
    }

    fn certs(&self) -> Result<Vec<CertificateDer<'static>>> {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Tls(format!("the certificate file is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Tls(
                "the certificate file holds no certificate".into(),
            ));
        }
        Ok(certs)
    }

    /// SHA-256 of the (first) certificate, as `AB:CD:…`, the form browsers show.
    pub fn fingerprint(&self) -> Result<String> {
        let certs = self.certs()?;
        let digest = Sha256::digest(certs[0].as_ref());
        Ok(digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"))
    }

    /// Checks that certificate and key load and belong together.
    pub fn validate(&self) -> Result<()> {
        self.server_config().map(|_| ())
    }

    /// The rustls server configuration (TLS 1.2 and 1.3, HTTP/1.1).
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| Error::Tls(format!("the key file holds no usable private key: {e}")))?;
        // ring, named explicitly: another provider may be compiled in through other crates.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.certs()?, key)
            .map_err(|e| Error::Tls(format!("certificate and key do not fit: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// An axum listener of finished TLS connections. Handshakes run in their own tasks, bounded by
/// [`HANDSHAKE_TIMEOUT`], so one stalled client cannot stop others from connecting.
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Must be called inside the runtime: it spawns the accept loop.
    pub(crate) fn new(tcp: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(c) => c,
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    // Plain HTTP or a failed handshake: the connection is simply closed.
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        let _ = tx.send((tls, addr)).await;
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop never ends while the runtime runs; if it did, accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_identity_loads_and_has_a_stable_fingerprint() {
        let id = TlsIdentity::self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        id.server_config().unwrap();
        let fp = id.fingerprint().unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
        assert_eq!(fp, id.clone().fingerprint().unwrap());
        assert!(
            !format!("{id:?}").contains("PRIVATE"),
            "Debug must not print the key"
        );
    }

    #[test]
    fn mismatched_or_garbage_pem_is_an_error() {
        let a = TlsIdentity::self_signed(vec!["a".into()]).unwrap();
        let b = TlsIdentity::self_signed(vec!["b".into()]).unwrap();
        let mixed = TlsIdentity {
            cert_pem: a.cert_pem.clone(),
            key_pem: b.key_pem.clone(),
        };
        assert!(mixed.server_config().is_err());
        let garbage = TlsIdentity {
            cert_pem: "not pem".into(),
            key_pem: "not pem".into(),
        };
        assert!(garbage.server_config().is_err());
        assert!(garbage.fingerprint().is_err());
    }
}
