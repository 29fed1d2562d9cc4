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
//! Every write is one transaction: a batch of accepted messages (meta and state), a round
//! close (meta, state and outbox), a session's end (the result in, the live session out).
//! A crash leaves the file as of the last commit.

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

const LIVE: TableDefinition<&str, &[u8]> = TableDefinition::new("live");
const OUTBOX: TableDefinition<u32, u32> = TableDefinition::new("outbox");
const ENVELOPES: TableDefinition<u32, &[u8]> = TableDefinition::new("envelopes");
const RESULTS: TableDefinition<u64, &[u8]> = TableDefinition::new("results");

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
        Ok(Some(Stored {
            meta,
            state,
            outbox,
        }))
    }

    /// Stores a batch of accepted messages: the record and the state.
    ///
    /// # Errors
    /// [`NetError::Store`].
    pub fn save_batch(&self, meta: &Meta, state: &[u8]) -> Result<(), NetError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut live = txn.open_table(LIVE).map_err(db_err)?;
            live.insert("meta", meta.to_bytes().as_slice())
                .map_err(db_err)?;
            live.insert("state", state).map_err(db_err)?;
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
}
