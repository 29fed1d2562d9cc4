//! Mutual TLS: the files each side loads, the client id a verified client certificate
//! carries, and development certificates (`secagg certs`, the tests).
//!
//! **The binding.** A client's id is a URI subject alternative name of its certificate,
//! `urn:secagg:client:<id>` (exactly one such name, `1 <= id <= n`). The server reads it only
//! from a certificate that rustls has verified against the configured client CA, and hands
//! the core nothing else as the sender. A URI name rather than the common name: a SAN is
//! typed and listed, a CN is free text that CAs rewrite, and a URI cannot be mistaken for a
//! host name by any other verifier that sees the certificate.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, Identity};
use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::NetError;
use crate::ids::ClientId;

/// The prefix of the URI subject alternative name that carries a client id.
pub const CLIENT_URI_PREFIX: &str = "urn:secagg:client:";

/// Reads a PEM file.
pub(super) fn read_pem(path: &Path) -> Result<Vec<u8>, NetError> {
    std::fs::read(path).map_err(|e| NetError::Tls(format!("{}: {e}", path.display())))
}

/// A certificate and key as a TLS identity.
pub(super) fn identity(cert: &Path, key: &Path) -> Result<Identity, NetError> {
    Ok(Identity::from_pem(read_pem(cert)?, read_pem(key)?))
}

/// A CA certificate.
pub(super) fn ca(path: &Path) -> Result<Certificate, NetError> {
    Ok(Certificate::from_pem(read_pem(path)?))
}

/// Why a peer certificate names no client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertIdError {
    /// The connection carries no client certificate.
    NoCertificate,
    /// The certificate does not parse as X.509.
    Unparsable,
    /// No `urn:secagg:client:<id>` name, or more than one.
    NoClientName,
    /// The id is not a number in `1..=n`.
    OutOfRange,
}

impl core::fmt::Display for CertIdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NoCertificate => "no client certificate",
            Self::Unparsable => "the client certificate does not parse",
            Self::NoClientName => "the client certificate names no single urn:secagg:client:<id>",
            Self::OutOfRange => "the client certificate's id is not one of this session's",
        })
    }
}

/// The client id of a verified leaf certificate (DER), for a session of `clients` clients.
///
/// # Errors
/// [`CertIdError`] when the certificate carries no single id in `1..=clients`.
pub fn client_id(der: &[u8], clients: usize) -> Result<ClientId, CertIdError> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|_| CertIdError::Unparsable)?;
    let mut found = None;
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        if ext.extn_id != x509_cert::der::oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME {
            continue;
        }
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
            .map_err(|_| CertIdError::Unparsable)?;
        for name in san.0 {
            if let GeneralName::UniformResourceIdentifier(uri) = name
                && let Some(rest) = uri.as_str().strip_prefix(CLIENT_URI_PREFIX)
            {
                if found.is_some() {
                    return Err(CertIdError::NoClientName);
                }
                found = Some(rest.to_owned());
            }
        }
    }
    let text = found.ok_or(CertIdError::NoClientName)?;
    // Canonical decimal only: no sign, no leading zero, no spaces.
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CertIdError::OutOfRange);
    }
    let id: u32 = text.parse().map_err(|_| CertIdError::OutOfRange)?;
    if id == 0 || usize::try_from(id).map_or(true, |i| i > clients) {
        return Err(CertIdError::OutOfRange);
    }
    Ok(ClientId(id))
}

/// Development certificates: a CA, a server certificate for `localhost` and `127.0.0.1`,
/// and one client certificate per id, as PEM.
#[derive(Debug, Clone)]
pub struct DevCerts {
    /// The CA certificate (it signs the server's and the clients').
    pub ca_pem: String,
    /// The server's certificate.
    pub server_pem: String,
    /// The server's key.
    pub server_key: String,
    /// `(id, certificate, key)` per client.
    pub clients: Vec<(u32, String, String)>,
}

impl DevCerts {
    /// A new CA (`name` in its common name) with a server certificate and client
    /// certificates for `ids`.
    ///
    /// # Errors
    /// [`NetError::Tls`] if `rcgen` fails.
    pub fn generate(name: &str, ids: impl IntoIterator<Item = u32>) -> Result<Self, NetError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose, SanType,
        };
        let err = |e: rcgen::Error| NetError::Tls(format!("certificate generation: {e}"));
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(err)?;
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).map_err(err)?;
        server
            .subject_alt_names
            .push(SanType::IpAddress(core::net::IpAddr::V4(
                core::net::Ipv4Addr::LOCALHOST,
            )));
        server
            .distinguished_name
            .push(DnType::CommonName, format!("{name} server"));
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer).map_err(err)?;

        let mut clients = Vec::new();
        for id in ids {
            let key = KeyPair::generate().map_err(err)?;
            let mut p = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
            let uri = format!("{CLIENT_URI_PREFIX}{id}");
            p.subject_alt_names
                .push(SanType::URI(uri.try_into().map_err(err)?));
            p.distinguished_name
                .push(DnType::CommonName, format!("{name} client {id}"));
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let cert = p.signed_by(&key, &issuer).map_err(err)?;
            clients.push((id, cert.pem(), key.serialize_pem()));
        }
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server_pem: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            clients,
        })
    }

    /// Writes `ca.pem`, `server.pem`, `server.key` and `client-<id>.pem` /
    /// `client-<id>.key` into `dir`; returns the paths written.
    ///
    /// # Errors
    /// [`NetError::Tls`] for a file that cannot be written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, NetError> {
        let mut files = vec![
            ("ca.pem".to_owned(), &self.ca_pem),
            ("server.pem".to_owned(), &self.server_pem),
            ("server.key".to_owned(), &self.server_key),
        ];
        for (id, cert, key) in &self.clients {
            files.push((format!("client-{id}.pem"), cert));
            files.push((format!("client-{id}.key"), key));
        }
        let mut written = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            write_private(&path, text.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Writes a file readable by its owner only (keys; certificates too, for simplicity).
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NetError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| NetError::Tls(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_come_from_the_uri_name() {
        let certs = DevCerts::generate("test", [1, 7]).unwrap();
        let der = |pem: &str| {
            let p = pem.trim();
            let body: String = p.lines().filter(|l| !l.starts_with("-----")).collect();
            base64_decode(&body)
        };
        assert_eq!(client_id(&der(&certs.clients[0].1), 5), Ok(ClientId(1)));
        assert_eq!(client_id(&der(&certs.clients[1].1), 7), Ok(ClientId(7)));
        assert_eq!(
            client_id(&der(&certs.clients[1].1), 6),
            Err(CertIdError::OutOfRange)
        );
        assert_eq!(
            client_id(&der(&certs.server_pem), 5),
            Err(CertIdError::NoClientName)
        );
        assert_eq!(client_id(b"junk", 5), Err(CertIdError::Unparsable));
    }

    #[allow(clippy::cast_possible_truncation)]
    fn base64_decode(s: &str) -> Vec<u8> {
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for c in s.bytes().filter(|c| *c != b'=') {
            let v = table.iter().position(|t| *t == c).unwrap() as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }
}
