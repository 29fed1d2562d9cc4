//! The malicious-server mode's key files: each client's Ed25519 identity key (its signing
//! seed as 64 hex digits) and the PKI directory that maps every client id to its verifying
//! key (a text file, one `<id> <64 hex digits>` line per client, `#` comments).
//!
//! Both are read with a bound on their size before anything is allocated, and every fault
//! is a typed [`KeyFileError`] that names the line, never the key. The identity seed is read
//! into a buffer that is wiped when it drops; the key itself ([`IdentityKey`]) wipes itself.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use alloc::collections::BTreeMap;
use core::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::NetError;
use crate::crypto::sign::{IdentityKey, IdentityPublicKey, Pki};
use crate::ids::ClientId;

/// The largest key file read (a seed is 64 hex digits and a newline; room for comments
/// and a carriage return is not needed: only whitespace around the digits is accepted).
const KEY_FILE_MAX: u64 = 256;

/// The longest line of a PKI directory: an id of at most 10 digits, a space, 64 hex digits,
/// and room for a comment.
const PKI_LINE_MAX: u64 = 256;

/// What is wrong with a key file or a PKI directory. It never carries key material.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileError {
    /// The file cannot be read (the operating system's reason).
    Unreadable(String),
    /// The file cannot be written (the operating system's reason).
    Unwritable(String),
    /// The file is larger than any valid one.
    TooLarge {
        /// The largest size accepted, in bytes.
        max: u64,
    },
    /// The identity key file is not 64 hex digits.
    NotHex,
    /// A PKI line is not `<id> <64 hex digits>`.
    Malformed {
        /// Its number, from 1.
        line: usize,
    },
    /// A PKI line's key is not an Ed25519 verifying key.
    NotAKey {
        /// Its number, from 1.
        line: usize,
    },
    /// A PKI line names an id outside `1..=clients`.
    IdOutOfRange {
        /// Its number, from 1.
        line: usize,
        /// The session's clients.
        clients: usize,
    },
    /// Two PKI lines name the same client.
    Duplicate {
        /// The id.
        id: u32,
    },
    /// The PKI has no key for this client, or another key than its own.
    NotInPki {
        /// The client.
        id: u32,
    },
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(e) => write!(f, "cannot read: {e}"),
            Self::Unwritable(e) => write!(f, "cannot write: {e}"),
            Self::TooLarge { max } => write!(f, "larger than {max} bytes"),
            Self::NotHex => f.write_str("expected 64 hex digits"),
            Self::Malformed { line } => {
                write!(f, "line {line}: expected `<id> <64 hex digits>`")
            }
            Self::NotAKey { line } => write!(f, "line {line}: not an Ed25519 verifying key"),
            Self::IdOutOfRange { line, clients } => {
                write!(f, "line {line}: the id is not in 1..={clients}")
            }
            Self::Duplicate { id } => write!(f, "client {id} is listed twice"),
            Self::NotInPki { id } => write!(
                f,
                "the PKI does not hold client {id}'s verifying key (another key, or none)"
            ),
        }
    }
}

impl core::error::Error for KeyFileError {}

fn key_error(path: &Path, error: KeyFileError) -> NetError {
    NetError::KeyFile {
        path: path.to_path_buf(),
        error,
    }
}

/// Reads at most `max` bytes of `path` into a buffer wiped on drop, allocated once at full
/// size (no reallocation leaves a copy behind).
pub(super) fn read_bounded(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, NetError> {
    let unreadable = |e: std::io::Error| key_error(path, KeyFileError::Unreadable(e.to_string()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    if len > max {
        return Err(key_error(path, KeyFileError::TooLarge { max }));
    }
    let capacity = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    // One byte more than the bound tells a file that grew after `metadata` apart.
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(key_error(path, KeyFileError::TooLarge { max }));
    }
    Ok(bytes)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// 64 hex digits (nothing else) as 32 bytes, into a buffer wiped on drop.
pub(super) fn hex32(text: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    if text.len() != 64 {
        return None;
    }
    let mut out = Zeroizing::new([0u8; 32]);
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (&hi, &lo) = (pair.first()?, pair.get(1)?);
        *byte = (hex_digit(hi)? << 4) | hex_digit(lo)?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Reads a client's identity key: its 32-byte Ed25519 seed as 64 hex digits (whitespace
/// around them ignored), as [`write_identity_key`] writes it.
///
/// # Errors
/// [`NetError::KeyFile`]: unreadable, too large, or not 64 hex digits.
pub fn read_identity_key(path: &Path) -> Result<IdentityKey, NetError> {
    let bytes = read_bounded(path, KEY_FILE_MAX)?;
    let seed = hex32(bytes.trim_ascii()).ok_or_else(|| key_error(path, KeyFileError::NotHex))?;
    Ok(IdentityKey::from_seed(&seed))
}

/// Writes an identity key's seed (64 hex digits), readable by its owner only.
///
/// # Errors
/// [`NetError::KeyFile`] when the file cannot be written.
pub fn write_identity_key(path: &Path, key: &IdentityKey) -> Result<(), NetError> {
    let seed = key.to_seed();
    let mut text = Zeroizing::new(String::with_capacity(65));
    for b in seed.iter() {
        text.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        text.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    text.push('\n');
    super::tls::write_private(path, text.as_bytes())
        .map_err(|e| key_error(path, KeyFileError::Unwritable(e.to_string())))
}

/// Reads a PKI directory for a session of `clients` clients: one `<id> <64 hex digits>` line
/// per client, ids in `1..=clients`, each at most once; blank lines and `#` comments are
/// skipped. The file's size is bounded by `clients` lines before it is read.
///
/// # Errors
/// [`NetError::KeyFile`] naming the first wrong line.
pub fn read_pki(path: &Path, clients: usize) -> Result<Pki, NetError> {
    let max = u64::try_from(clients)
        .unwrap_or(u64::MAX)
        .saturating_add(16)
        .saturating_mul(PKI_LINE_MAX);
    let bytes = read_bounded(path, max)?;
    parse_pki(&bytes, clients).map_err(|e| key_error(path, e))
}

fn parse_pki(bytes: &[u8], clients: usize) -> Result<Pki, KeyFileError> {
    let mut keys = BTreeMap::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let content = line
            .split(|&b| b == b'#')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        if content.is_empty() {
            continue;
        }
        let malformed = KeyFileError::Malformed { line: number };
        let mut fields = content
            .split(u8::is_ascii_whitespace)
            .filter(|f| !f.is_empty());
        let (Some(id), Some(key), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(malformed);
        };
        if id.is_empty() || id.len() > 10 || !id.iter().all(u8::is_ascii_digit) {
            return Err(malformed);
        }
        let id: u32 = core::str::from_utf8(id)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(KeyFileError::Malformed { line: number })?;
        if id == 0 || usize::try_from(id).map_or(true, |i| i > clients) {
            return Err(KeyFileError::IdOutOfRange {
                line: number,
                clients,
            });
        }
        let raw = hex32(key).ok_or(KeyFileError::Malformed { line: number })?;
        let key = IdentityPublicKey::from_bytes(&raw)
            .map_err(|_| KeyFileError::NotAKey { line: number })?;
        if keys.insert(ClientId(id), key).is_some() {
            return Err(KeyFileError::Duplicate { id });
        }
    }
    Ok(Pki::new(keys))
}

/// The PKI directory's text: one line per client, ascending ids.
#[must_use]
pub fn pki_text(pki: &Pki, ids: impl IntoIterator<Item = ClientId>) -> String {
    let mut out =
        String::from("# secagg PKI directory: <client id> <Ed25519 verifying key, hex>\n");
    for id in ids {
        if let Some(key) = pki.get(id) {
            out.push_str(&format!("{} {}\n", id.0, hex(&key.to_bytes())));
        }
    }
    out
}

/// Checks that `pki` holds `key`'s verifying key for client `id`: a client whose own entry
/// is wrong would only have its advertisement refused by the server.
///
/// # Errors
/// [`KeyFileError::NotInPki`].
pub fn check_own_entry(pki: &Pki, id: ClientId, key: &IdentityKey) -> Result<(), KeyFileError> {
    if pki.get(id) == Some(&key.public_key()) {
        Ok(())
    } else {
        Err(KeyFileError::NotInPki { id: id.0 })
    }
}

/// Development identities: a fresh identity key per client, written as
/// `identity-<id>.key` (mode 0600), and the PKI directory `pki.txt` of their verifying keys.
/// Returns the files written.
///
/// # Errors
/// [`NetError::Config`] for no OS randomness, [`NetError::KeyFile`] for a file that cannot
/// be written.
pub fn write_dev_identities(
    dir: &Path,
    ids: impl IntoIterator<Item = u32>,
) -> Result<Vec<PathBuf>, NetError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| NetError::Config(format!("OS randomness: {e}")))?;
    let mut rng = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::from_seed(*seed);
    let mut files = Vec::new();
    let mut public = Vec::new();
    for id in ids {
        let key = IdentityKey::generate(&mut rng);
        let path = dir.join(format!("identity-{id}.key"));
        write_identity_key(&path, &key)?;
        files.push(path);
        public.push((ClientId(id), key.public_key()));
    }
    let ids: Vec<ClientId> = public.iter().map(|(id, _)| *id).collect();
    let pki = Pki::new(public);
    let path = dir.join("pki.txt");
    std::fs::write(&path, pki_text(&pki, ids))
        .map_err(|e| key_error(&path, KeyFileError::Unwritable(e.to_string())))?;
    files.push(path);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: u32, key: &IdentityKey) -> String {
        format!("{id} {}\n", hex(&key.public_key().to_bytes()))
    }

    #[test]
    fn pki_round_trips_and_rejects_junk() {
        let a = IdentityKey::from_seed(&[1; 32]);
        let b = IdentityKey::from_seed(&[2; 32]);
        let text = format!("# comment\n\n{}  {}", line(1, &a), line(3, &b));
        let pki = parse_pki(text.as_bytes(), 3).unwrap();
        assert_eq!(pki.len(), 2);
        assert_eq!(pki.get(ClientId(3)), Some(&b.public_key()));
        assert_eq!(
            pki_text(&pki, [ClientId(1), ClientId(3)]).lines().count(),
            3
        );
        assert_eq!(
            parse_pki(text.as_bytes(), 2).unwrap_err(),
            KeyFileError::IdOutOfRange {
                line: 4,
                clients: 2
            }
        );
        let twice = format!("{}{}", line(1, &a), line(1, &b));
        assert_eq!(
            parse_pki(twice.as_bytes(), 3).unwrap_err(),
            KeyFileError::Duplicate { id: 1 }
        );
        for bad in [
            "1",
            "1 00",
            "x 00",
            "01x 11",
            "1 2 3",
            &format!("1 {}", "zz".repeat(32)),
        ] {
            assert!(
                matches!(
                    parse_pki(bad.as_bytes(), 3),
                    Err(KeyFileError::Malformed { line: 1 })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            parse_pki(b"0 00", 3).unwrap_err(),
            KeyFileError::IdOutOfRange {
                line: 1,
                clients: 3
            }
        );
        // The first encoding that is no curve point (about half of them are not).
        let not_a_point = (2u8..=255)
            .map(|y| {
                let mut raw = [0u8; 32];
                raw[0] = y;
                raw
            })
            .find(|raw| IdentityPublicKey::from_bytes(raw).is_err())
            .unwrap();
        assert_eq!(
            parse_pki(format!("1 {}", hex(&not_a_point)).as_bytes(), 3).unwrap_err(),
            KeyFileError::NotAKey { line: 1 }
        );
        assert_eq!(
            check_own_entry(&pki, ClientId(1), &b),
            Err(KeyFileError::NotInPki { id: 1 })
        );
        assert_eq!(check_own_entry(&pki, ClientId(1), &a), Ok(()));
    }

    #[test]
    fn identity_files_round_trip_bounded_and_never_print_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_dev_identities(dir.path(), 1..=3).unwrap();
        assert_eq!(files.len(), 4);
        let pki = read_pki(&dir.path().join("pki.txt"), 3).unwrap();
        let key = read_identity_key(&dir.path().join("identity-2.key")).unwrap();
        assert_eq!(check_own_entry(&pki, ClientId(2), &key), Ok(()));
        let seed_hex = hex(key.to_seed().as_ref());
        assert!(!format!("{key:?}").contains(&seed_hex[..16]));

        let big = dir.path().join("big.key");
        std::fs::write(&big, vec![b'0'; 1000]).unwrap();
        let err = read_identity_key(&big).unwrap_err();
        assert!(matches!(
            err,
            NetError::KeyFile {
                error: KeyFileError::TooLarge { .. },
                ..
            }
        ));
        let short = dir.path().join("short.key");
        std::fs::write(&short, &seed_hex[..62]).unwrap();
        let err = read_identity_key(&short).unwrap_err();
        assert!(matches!(
            err,
            NetError::KeyFile {
                error: KeyFileError::NotHex,
                ..
            }
        ));
        assert!(!err.to_string().contains(&seed_hex[..16]));
        assert!(matches!(
            read_pki(&dir.path().join("missing.txt"), 3),
            Err(NetError::KeyFile {
                error: KeyFileError::Unreadable(_),
                ..
            })
        ));
    }
}
