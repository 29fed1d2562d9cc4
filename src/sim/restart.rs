//! Saving and restoring every party between rounds ([`super::Simulation::restart_every_round`]):
//! each client after each of its steps, the server once it holds each round's messages, each
//! from its sealed bytes alone, as a fresh process would.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroizing;

use super::{Step, timed};
use crate::crypto::sign::{IdentityKey, Pki};
use crate::error::{Error, StateError};
use crate::ids::ClientId;
use crate::params::Params;
use crate::protocol::state::StateKey;
use crate::protocol::{Round, client, server};

/// The saving and restoring of parties between rounds ([`super::Simulation::restart_every_round`]):
/// the host key, and what a client holds anyway to restore its state (its identity).
pub(super) struct Restarts {
    pub(super) key: StateKey,
    pub(super) identities: BTreeMap<ClientId, Zeroizing<[u8; 32]>>,
    pub(super) pki: Option<Pki>,
}

impl Restarts {
    /// The identity client `id` restores its state with.
    fn identity(&self, id: ClientId) -> Option<client::Identity> {
        let seed = self.identities.get(&id)?;
        let pki = self.pki.clone()?;
        Some(client::Identity::new(IdentityKey::from_seed(seed), pki))
    }

    /// A fresh nonce source for client `id` at `stage` (the protocol's own generator is left
    /// untouched, so the session's messages are those of a run without restarts).
    fn nonces(id: ClientId, stage: u8) -> ChaCha20Rng {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5e55_1011);
        rng.set_stream((u64::from(id.0) << 8) | u64::from(stage));
        rng
    }

    /// Seals client `id`'s state and opens it again from the bytes; returns the state and
    /// the sealed length.
    pub(super) fn client<C: Durable>(
        &self,
        params: &Params,
        id: ClientId,
        c: C,
    ) -> Result<(C, usize), Error> {
        let bytes = c.seal_state(&self.key, &mut Self::nonces(id, C::STAGE));
        let c = C::open_state(&bytes, &self.key, params, id, self.identity(id))
            .map_err(|_| Error::Internal("a client state saved by the simulator opens"))?;
        Ok((c, bytes.len()))
    }

    /// Seals the server's state and opens it again; returns the state and the sealed length.
    pub(super) fn server<S: ServerDurable>(
        &self,
        params: &Params,
        s: S,
    ) -> Result<(S, usize), Error> {
        let mut nonces = Self::nonces(ClientId(0), S::ROUND.number());
        let bytes = s.seal(&self.key, &mut nonces);
        let s = S::open(&bytes, &self.key, params, self.pki.clone())
            .map_err(|_| Error::Internal("a server state saved by the simulator opens"))?;
        Ok((s, bytes.len()))
    }
}

/// A server state the simulator saves and restores.
pub(super) trait ServerDurable: Sized {
    const ROUND: Round;

    fn seal(&self, key: &StateKey, rng: &mut ChaCha20Rng) -> Vec<u8>;

    fn open(
        bytes: &[u8],
        key: &StateKey,
        params: &Params,
        pki: Option<Pki>,
    ) -> Result<Self, StateError>;
}

macro_rules! server_durable {
    ($($state:ident = $round:ident),*) => {$(
        impl ServerDurable for server::$state {
            const ROUND: Round = Round::$round;

            fn seal(&self, key: &StateKey, rng: &mut ChaCha20Rng) -> Vec<u8> {
                server::$state::seal(self, key, rng)
            }

            fn open(
                bytes: &[u8],
                key: &StateKey,
                params: &Params,
                pki: Option<Pki>,
            ) -> Result<Self, StateError> {
                server::$state::open(bytes, key, params, pki)
            }
        }
    )*};
}

server_durable!(
    AdvertiseKeys = AdvertiseKeys,
    ShareKeys = ShareKeys,
    MaskedInput = MaskedInput,
    Consistency = Consistency,
    Unmasking = Unmasking
);

impl<C, M> Step<C, M> {
    /// With restarts, the client's new state saved and restored, in the step's time.
    pub(super) fn restarted(mut self, restarts: Option<&Restarts>, params: &Params) -> Self
    where
        C: Durable,
    {
        let Some(restarts) = restarts else {
            return self;
        };
        if let Ok((c, m)) = self.out {
            let (out, seconds) = timed(|| restarts.client(params, self.id, c));
            self.seconds += seconds;
            self.out = out.map(|(c, len)| {
                self.state = len;
                (c, m)
            });
        }
        self
    }
}

/// A client state the simulator saves and restores.
pub(super) trait Durable: Sized {
    const STAGE: u8;

    fn seal_state(&self, key: &StateKey, rng: &mut ChaCha20Rng) -> Vec<u8>;

    fn open_state(
        bytes: &[u8],
        key: &StateKey,
        params: &Params,
        id: ClientId,
        identity: Option<client::Identity>,
    ) -> Result<Self, StateError>;
}

macro_rules! durable {
    ($($state:ident),*) => {$(
        impl Durable for client::$state {
            const STAGE: u8 = <client::$state as crate::protocol::client::state::Saved>::STAGE;

            fn seal_state(&self, key: &StateKey, rng: &mut ChaCha20Rng) -> Vec<u8> {
                self.seal(key, rng)
            }

            fn open_state(
                bytes: &[u8],
                key: &StateKey,
                params: &Params,
                id: ClientId,
                identity: Option<client::Identity>,
            ) -> Result<Self, StateError> {
                Self::open(bytes, key, params, id, identity)
            }
        }
    )*};
}

durable!(AdvertiseKeys, ShareKeys, MaskedInput, Consistency);
