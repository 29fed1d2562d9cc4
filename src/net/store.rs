//! The server's durable state in one redb file (ACID, pure Rust, no C build).
//!
//! Tables: `live` holds the running session's record (`meta`: session index, id, parameters,
//! round, who answered) and its sealed [`ServerSession`](crate::protocol::session::ServerSession)
//! (`state`, `docs/WIRE.md` §11); `outbox` holds the messages that opened the current round,
//! by recipient, so a client that reconnects, or a restarted server, sends the very bytes it
//! sent before (`envelopes` holds each message once, `outbox` each recipient's envelope: a
//! roster is stored once, not once per client); `results` holds every finished session's outcome (the `Outcome` message of
//! `proto/secagg.proto`) by session index, kept for good.
//!
//! `inbox` holds the messages accepted in the current round, each sealed under the host key
//! ([`seal_record`]), by sender: the state (`live`) is written when a round opens, and a
//! restarted server replays the inbox into it. A batch of accepted messages thus costs its
//! own bytes, not the whole state's (which in ShareKeys holds every ciphertext so far).
//!
//! Every write is one transaction: a batch of accepted messages (meta and the batch's
//! records), a round close (meta, state and outbox; the inbox emptied), a session's end (the
//! result in, the live session out). A crash leaves the file as of the last commit.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use alloc::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use prost::bytes::Bytes;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use super::NetError;
use crate::ids::{ClientId, SessionId};
use crate::params::PARAMS_LEN;
use crate::protocol::state::StateKey;

const LIVE: TableDefinition<&str, &[u8]> = TableDefinition::new("live");
const OUTBOX: TableDefinition<u32, u32> = TableDefinition::new("outbox");
const ENVELOPES: TableDefinition<u32, &[u8]> = TableDefinition::new("envelopes");
const RESULTS: TableDefinition<u64, &[u8]> = TableDefinition::new("results");
const INBOX: TableDefinition<u32, &[u8]> = TableDefinition::new("inbox");

/// The associated data's label of an inbox record (with the session, round and sender).
const RECORD_LABEL: &[u8] = b"secagg/net/v1/inbox-record";

fn record_header(session: &SessionId, round: u8, from: ClientId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(RECORD_LABEL.len() + 32 + 1 + 4);
    aad.extend_from_slice(RECORD_LABEL);
    aad.extend_from_slice(&session.0);
    aad.push(round);
    aad.extend_from_slice(&from.0.to_be_bytes());
    aad
}

/// Seals one accepted message for the inbox under the host key (XChaCha20-Poly1305 with a
/// key derived for the session and the sender, the session, round and sender as associated
/// data).
///
/// SECURITY: a message at rest is no easier to read than the sealed state it stands for
/// (an Unmasking response holds revealed shares), and a record cannot be moved to another
/// session, round or sender: it would not open.
#[must_use]
pub fn seal_record<R: rand_core::CryptoRng + ?Sized>(
    key: &StateKey,
    session: &SessionId,
    round: u8,
    from: ClientId,
    message: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let aad = record_header(session, round, from);
    let mut out = Vec::with_capacity(message.len().saturating_add(24 + 16));
    // A message is bounded by the gRPC limit, far below the cipher's 256 GiB: this cannot
    // fail; an empty record would not open, and the restart would say so.
    let _ = crate::crypto::aead::seal_state(key, (session, from), &aad, message, rng, &mut out);
    out
}

/// Opens an inbox record.
///
/// # Errors
/// [`NetError::Store`] for a record that does not open under this key, session, round and
/// sender.
pub fn open_record(
    key: &StateKey,
    session: &SessionId,
    round: u8,
    from: ClientId,
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, NetError> {
    let aad = record_header(session, round, from);
    crate::crypto::aead::open_state(key, (session, from), &aad, sealed).map_err(|_| {
        NetError::Store(format!(
            "the stored message of client {from} does not open under the host key"
        ))
    })
}

/// The record's own format version.
const META_VERSION: u8 = 1;

/// The running session's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The session's index: 0 for the server's first session, then one more each.
    pub index: u64,
    /// The session id.
    pub session: SessionId,
    /// `Params::to_bytes`.
    pub params: [u8; PARAMS_LEN],
    /// The round the server collects.
    pub round: u8,
    /// The clients whose message of this round is in the state.
    pub answered: BTreeSet<ClientId>,
}

impl Meta {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + 32 + PARAMS_LEN + 1 + 4 + 4 * self.answered.len());
        out.push(META_VERSION);
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.session.0);
        out.extend_from_slice(&self.params);
        out.push(self.round);
        let count = u32::try_from(self.answered.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for id in &self.answered {
            out.extend_from_slice(&id.0.to_be_bytes());
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        if version != META_VERSION {
            return None;
        }
        let (index, rest) = rest.split_first_chunk::<8>()?;
        let (session, rest) = rest.split_first_chunk::<32>()?;
        let (params, rest) = rest.split_first_chunk::<PARAMS_LEN>()?;
        let (&round, rest) = rest.split_first()?;
        let (count, mut rest) = rest.split_first_chunk::<4>()?;
        let count = usize::try_from(u32::from_be_bytes(*count)).ok()?;
        if rest.len() != count.checked_mul(4)? {
            return None;
        }
        let mut answered = BTreeSet::new();
        while let Some((id, tail)) = rest.split_first_chunk::<4>() {
            answered.insert(ClientId(u32::from_be_bytes(*id)));
            rest = tail;
        }
        Some(Self {
            index: u64::from_be_bytes(*index),
            session: SessionId(*session),
            params: *params,
            round,
            answered,
        })
    }
}

/// A running session as stored.
#[derive(Debug)]
pub struct Stored {
    /// Its record.
    pub meta: Meta,
    /// Its sealed server state.
    pub state: Vec<u8>,
    /// The messages that opened its current round, by recipient (one buffer per message).
    pub outbox: BTreeMap<ClientId, Bytes>,
    /// The messages accepted in the current round, sealed ([`open_record`]), by sender.
    pub inbox: Vec<(ClientId, Vec<u8>)>,
}

/// The state database.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

fn db_err(e: impl core::fmt::Display) -> NetError {
    NetError::Store(e.to_string())
}

impl Store {
    /// Opens (or creates) the database; a file left by a crash is repaired by redb.
    ///
    /// # Errors
    /// [`NetError::Store`], also when another process holds the file.
    pub fn open(path: &Path) -> Result<Self, NetError> {
        let db = Database::create(path)
            .map_err(|e| NetError::Store(format!("{}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(db_err)?;
        {
            txn.open_table(LIVE).map_err(db_err)?;
            txn.open_table(OUTBOX).map_err(db_err)?;
            txn.open_table(ENVELOPES).map_err(db_err)?;
            txn.open_table(RESULTS).map_err(db_err)?;
            txn.open_table(INBOX).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(Self { db })
    }

    /// The running session, if the server stopped in one.
    ///
    /// # Errors
    /// [`NetError::Store`] for a read error or a record that does not decode.
    pub fn load(&self) -> Result<Option<Stored>, NetError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let live = txn.open_table(LIVE).map_err(db_err)?;
        let Some(meta) = live.get("meta").map_err(db_err)? else {
            return Ok(None);
        };
        let meta = Meta::from_bytes(meta.value())
            .ok_or_else(|| NetError::Store("the live session's record does not decode".into()))?;
        let state = live
            .get("state")
            .map_err(db_err)?
            .ok_or_else(|| NetError::Store("the live session has no state".into()))?
            .value()
            .to_vec();
        let mut envelopes = BTreeMap::new();
        for entry in txn
            .open_table(ENVELOPES)
            .map_err(db_err)?
            .iter()
            .map_err(db_err)?
        {
            let (i, bytes) = entry.map_err(db_err)?;
            envelopes.insert(i.value(), Bytes::copy_from_slice(bytes.value()));
        }
        let mut outbox = BTreeMap::new();
        for entry in txn
            .open_table(OUTBOX)
            .map_err(db_err)?
            .iter()
            .map_err(db_err)?
        {
            let (id, i) = entry.map_err(db_err)?;
            let bytes = envelopes
                .get(&i.value())
                .ok_or_else(|| NetError::Store("an outbox entry names no envelope".into()))?;
            outbox.insert(ClientId(id.value()), bytes.clone());
        }
        let mut inbox = Vec::new();
        for entry in txn
            .open_table(INBOX)
            .map_err(db_err)?
            .iter()
            .map_err(db_err)?
        {
            let (id, bytes) = entry.map_err(db_err)?;
            inbox.push((ClientId(id.value()), bytes.value().to_vec()));
        }
        Ok(Some(Stored {
            meta,
            state,
            outbox,
            inbox,
        }))
    }

    /// Stores a batch of accepted messages: the record and each message, sealed
    /// ([`seal_record`]), in the inbox.
    ///
    /// # Errors
    /// [`NetError::Store`].
    pub fn save_batch(&self, meta: &Meta, records: &[(ClientId, Vec<u8>)]) -> Result<(), NetError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut live = txn.open_table(LIVE).map_err(db_err)?;
            live.insert("meta", meta.to_bytes().as_slice())
                .map_err(db_err)?;
            let mut inbox = txn.open_table(INBOX).map_err(db_err)?;
            for (from, sealed) in records {
                inbox.insert(from.0, sealed.as_slice()).map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Stores a round close (or a session's start): the record, the state and the messages
    /// that open the round with their recipients, replacing the previous round's.
    ///
    /// # Errors
    /// [`NetError::Store`].
    pub fn save_round(
        &self,
        meta: &Meta,
        state: &[u8],
        envelopes: &[(Vec<ClientId>, Bytes)],
    ) -> Result<(), NetError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut live = txn.open_table(LIVE).map_err(db_err)?;
            live.insert("meta", meta.to_bytes().as_slice())
                .map_err(db_err)?;
            live.insert("state", state).map_err(db_err)?;
            let mut table = txn.open_table(OUTBOX).map_err(db_err)?;
            table.retain(|_, _| false).map_err(db_err)?;
            let mut stored = txn.open_table(ENVELOPES).map_err(db_err)?;
            stored.retain(|_, _| false).map_err(db_err)?;
            // The round's messages are in the state now.
            txn.open_table(INBOX)
                .map_err(db_err)?
                .retain(|_, _| false)
                .map_err(db_err)?;
            for (i, (to, bytes)) in envelopes.iter().enumerate() {
                let i =
                    u32::try_from(i).map_err(|_| NetError::Store("too many envelopes".into()))?;
                stored.insert(i, bytes.as_ref()).map_err(db_err)?;
                for id in to {
                    table.insert(id.0, i).map_err(db_err)?;
                }
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Ends the running session: its outcome is kept under its index, the live session is
    /// removed, in one transaction.
    ///
    /// # Errors
    /// [`NetError::Store`].
    pub fn finish(&self, index: u64, outcome: &[u8]) -> Result<(), NetError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            txn.open_table(RESULTS)
                .map_err(db_err)?
                .insert(index, outcome)
                .map_err(db_err)?;
            let mut live = txn.open_table(LIVE).map_err(db_err)?;
            live.remove("meta").map_err(db_err)?;
            live.remove("state").map_err(db_err)?;
            txn.open_table(OUTBOX)
                .map_err(db_err)?
                .retain(|_, _| false)
                .map_err(db_err)?;
            txn.open_table(ENVELOPES)
                .map_err(db_err)?
                .retain(|_, _| false)
                .map_err(db_err)?;
            txn.open_table(INBOX)
                .map_err(db_err)?
                .retain(|_, _| false)
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Every finished session's outcome (encoded `Outcome`), by index.
    ///
    /// # Errors
    /// [`NetError::Store`].
    pub fn results(&self) -> Result<Vec<(u64, Vec<u8>)>, NetError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(RESULTS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (index, bytes) = entry.map_err(db_err)?;
            out.push((index.value(), bytes.value().to_vec()));
        }
        Ok(out)
    }

    /// How many sessions finished.
    ///
    /// # Errors
    /// [`NetError::Store`].
    pub fn finished(&self) -> Result<u64, NetError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(RESULTS).map_err(db_err)?;
        Ok(table
            .last()
            .map_err(db_err)?
            .map_or(0, |(index, _)| index.value() + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_rejects_junk() {
        let meta = Meta {
            index: 3,
            session: SessionId([7; 32]),
            params: [1; PARAMS_LEN],
            round: 2,
            answered: [ClientId(1), ClientId(9)].into_iter().collect(),
        };
        assert_eq!(Meta::from_bytes(&meta.to_bytes()), Some(meta.clone()));
        let bytes = meta.to_bytes();
        assert_eq!(Meta::from_bytes(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Meta::from_bytes(&[2]), None);
    }

    #[test]
    fn records_open_only_where_they_were_sealed() {
        let key = StateKey::new([5; 32]);
        let sid = SessionId([9; 32]);
        let mut rng = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1);
        let sealed = seal_record(&key, &sid, 1, ClientId(4), b"message", &mut rng);
        assert!(!sealed.windows(7).any(|w| w == b"message"));
        let opened = open_record(&key, &sid, 1, ClientId(4), &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"message");
        assert!(open_record(&key, &sid, 2, ClientId(4), &sealed).is_err());
        assert!(open_record(&key, &sid, 1, ClientId(5), &sealed).is_err());
        assert!(open_record(&key, &SessionId([8; 32]), 1, ClientId(4), &sealed).is_err());
        assert!(open_record(&StateKey::new([6; 32]), &sid, 1, ClientId(4), &sealed).is_err());
    }
}
