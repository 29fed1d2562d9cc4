//! The server's listener: TCP connections accepted, TLS handshakes done here (rustls, the
//! `ring` provider, as tonic would), and only completed ones handed to tonic. A handshake that
//! fails (a certificate of another CA, a peer that speaks no TLS, one that stalls past
//! [`HANDSHAKE_TIMEOUT`]) is logged with the peer's address and rustls' reason, and counted;
//! tonic's own acceptor drops it with a debug line and no peer.
//!
//! A client without a certificate completes the handshake (client authentication is
//! optional) and is refused by every call with `UNAUTHENTICATED`, logged and counted there.
//!
//! The client id a connection's certificate names is read once, when its handshake completes
//! ([`ClientConn`]), and every request on the connection carries it ([`ConnInfo`]), rather
//! than each request parsing the certificate again.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use core::net::SocketAddr;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::io::IoSlice;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tracing::warn;

use super::NetError;
use super::tls::{self, CertIdError, read_pem};
use crate::ids::ClientId;

/// The longest a TLS handshake may take before the connection is dropped.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at most: the listener waits for one to end before it accepts
/// more connections.
const MAX_HANDSHAKES: usize = 512;

/// Told of each failed handshake: the peer and rustls' reason.
pub(crate) type OnFailure = Arc<dyn Fn(SocketAddr, &str) + Send + Sync>;

/// A completed TLS connection, or the listener's fatal error.
pub(crate) type Accepted = Result<ClientConn, std::io::Error>;

/// What every request on a connection carries (tonic puts it in the request's extensions):
/// the peer's address and the client its verified certificate names, or why it names none.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The peer's address, for the log.
    pub(crate) peer: SocketAddr,
    /// The client id of the connection's certificate.
    pub(crate) client: Result<ClientId, CertIdError>,
}

/// A completed TLS connection and its [`ConnInfo`], read once at the end of the handshake.
#[derive(Debug)]
pub(crate) struct ClientConn {
    tls: TlsStream<TcpStream>,
    info: ConnInfo,
}

impl ClientConn {
    /// The connection `tls` from `peer`, in a server of `clients` clients.
    fn new(tls: TlsStream<TcpStream>, peer: SocketAddr, clients: usize) -> Self {
        // SECURITY: a sender's id comes only from the leaf certificate rustls verified
        // against the client CA in this connection's handshake; the peer's certificate
        // cannot change after it (rustls does neither renegotiation nor post-handshake
        // authentication), so the id read here is every later request's sender.
        let client = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
            None => Err(CertIdError::NoCertificate),
            Some(leaf) => tls::client_id(leaf.as_ref(), clients),
        };
        Self {
            tls,
            info: ConnInfo { peer, client },
        }
    }
}

impl tonic::transport::server::Connected for ClientConn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for ClientConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

/// The server's rustls configuration: its certificate and key, client certificates of the
/// CA `ca` verified when one is presented (optional: see the module docs), HTTP/2 by ALPN.
pub(crate) fn server_tls(cert: &Path, key: &Path, ca: &Path) -> Result<TlsAcceptor, NetError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertificateDer::pem_slice_iter(&read_pem(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NetError::Tls(format!("{}: {e}", cert.display())))?;
    // The key's parse error names the file, never the bytes.
    let private = PrivateKeyDer::from_pem_slice(&read_pem(key)?)
        .map_err(|_| NetError::Tls(format!("{}: no PEM private key", key.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&read_pem(ca)?) {
        let der = der.map_err(|e| NetError::Tls(format!("{}: {e}", ca.display())))?;
        roots
            .add(der)
            .map_err(|e| NetError::Tls(format!("{}: {e}", ca.display())))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| NetError::Tls(format!("client CA {}: {e}", ca.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, private)
        .map_err(|e| NetError::Tls(format!("server certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The shortest accept queue the listener asks the kernel for.
const MIN_BACKLOG: usize = 1024;

/// The listening socket on `addr` (resolved; the first of its addresses that binds), for a
/// server of `clients` clients.
///
/// Its accept queue is asked for `max(clients, MIN_BACKLOG)` connections (Linux caps it at
/// `net.core.somaxconn`, 4096 by default): every client of a session connects at the start
/// of its first round, and a connection the queue has no room for loses its SYN, which the
/// client repeats only after a second. `TcpListener::bind` asks for 128, as the standard
/// library does; with 1,000 clients that dropped 223 connections of the load bench's
/// (`nstat` `TcpExtListenOverflows`), a second each.
pub(crate) async fn listen(addr: &str, clients: usize) -> Result<TcpListener, NetError> {
    let backlog = u32::try_from(clients.max(MIN_BACKLOG)).unwrap_or(u32::MAX);
    let fail = |e: std::io::Error| NetError::Transport(format!("{addr}: {e}"));
    let mut last = None;
    for resolved in tokio::net::lookup_host(addr).await.map_err(fail)? {
        let socket = if resolved.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(fail)?;
        // As `TcpListener::bind` on Unix: a restarted server rebinds its port at once (on
        // Windows the option would let another process bind the port too).
        #[cfg(unix)]
        socket.set_reuseaddr(true).map_err(fail)?;
        match socket.bind(resolved).and_then(|()| socket.listen(backlog)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(fail(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    })))
}

/// Accepts connections on `listener` until `completed` closes (the server stopped; it also
/// aborts this task): each
/// handshake runs in its own task, bounded by [`HANDSHAKE_TIMEOUT`], at most
/// [`MAX_HANDSHAKES`] at once; a completed connection goes to `completed`, a failed one to
/// `failed(peer, reason)`. Ids outside `1..=clients` are refused (see [`ConnInfo`]).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    clients: usize,
    completed: mpsc::Sender<Accepted>,
    failed: OnFailure,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    // The handshakes in progress: aborted with this task (the set's drop), so that none
    // outlives a stopped server.
    let mut handshakes = tokio::task::JoinSet::new();
    loop {
        while handshakes.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted: not the
                // listener's end. Pause so that a persistent error does not spin.
                warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if completed.is_closed() {
            return;
        }
        // Replies go out as soon as they are written: no Nagle delay on small frames.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let completed = completed.clone();
        let failed = Arc::clone(&failed);
        handshakes.spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let conn = ClientConn::new(tls, peer, clients);
                    let _ = completed.send(Ok(conn)).await;
                }
                Ok(Err(e)) => failed(peer, &e.to_string()),
                Err(_) => failed(peer, "the handshake timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every client of a session can wait in the accept queue at once: with the 128 of
    /// `TcpListener::bind`, the connections past the queue's room lose their SYNs and wait
    /// a second for each repeat (here: forever, as nothing is accepted).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_accept_queue_holds_every_client() {
        // More than the 128 of `TcpListener::bind`, within what the kernel allows
        // (`net.core.somaxconn`; 4096 by default since Linux 5.4).
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        if somaxconn <= 128 {
            eprintln!("net.core.somaxconn is {somaxconn}: no queue longer than 128 to test");
            return;
        }
        let clients = somaxconn.min(400);
        let listener = listen("127.0.0.1:0", clients).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connects: Vec<_> = (0..clients)
            .map(|_| tokio::spawn(TcpStream::connect(addr)))
            .collect();
        // Bounded: a connection the queue dropped would only complete after a repeated
        // SYN found room, which never comes while nothing is accepted.
        let all = async {
            let mut streams = Vec::with_capacity(clients);
            for c in connects {
                streams.push(c.await.unwrap().unwrap());
            }
            streams
        };
        let streams = tokio::time::timeout(Duration::from_secs(20), all)
            .await
            .expect("a connection waited for room in the accept queue");
        assert_eq!(streams.len(), clients);
        // They are all in the queue: the listener accepts each of them without waiting.
        for _ in 0..clients {
            tokio::time::timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("a queued connection")
                .unwrap();
        }
        drop(listener);
    }

    #[tokio::test]
    async fn an_address_that_does_not_bind_is_a_typed_error() {
        let taken = listen("127.0.0.1:0", 1).await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        // The port is in use (SO_REUSEADDR does not share a listening port on Linux).
        assert!(matches!(
            listen(&addr, 1).await,
            Err(NetError::Transport(_))
        ));
        assert!(matches!(
            listen("not an address", 1).await,
            Err(NetError::Transport(_))
        ));
    }
}
