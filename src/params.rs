//! Session parameters: validated once, then immutable.

pub use crate::arith::Modulus;
pub use crate::crypto::prg::Suite as MaskSuite;
use crate::error::{ConfigError, DecodeError};
use crate::ids::SessionId;
pub use crate::vocabulary::{Neighbourhood, ThreatModel};

/// The largest number of clients a session accepts: every size the parameter finder covers.
/// Every bound and allocation is derived from the session's own `n`, not from this.
pub const MAX_CLIENTS: usize = 1 << 24;
/// The largest vector length a session accepts.
pub const MAX_VECTOR_LEN: usize = 1 << 28;

/// The parameters of one session, shared by the server and every client.
///
/// Built once by [`Params::new`] or [`Params::builder`], which check every bound; nothing
/// re-derives them later.
///
/// ```
/// use secagg::{Modulus, Params, SessionId, ThreatModel};
///
/// # fn main() -> Result<(), secagg::ConfigError> {
/// // SecAgg+ against a malicious server: 1,000 clients, degree 52 and threshold 37 (what
/// // `secagg params --clients 1000 --dropout 0.05 --corrupt 0.05 --malicious` gives).
/// let params = Params::builder(SessionId([1; 32]), 1000, Modulus::power_of_two(32)?, 10_000)
///     .neighbours(52)
///     .threshold(37)
///     .threat_model(ThreatModel::Malicious)
///     .build()?;
/// assert_eq!(params.share_holders(), 53);
/// // Against a malicious server a client accepts only a roster of every client by default.
/// assert_eq!(params.min_roster(), 1000);
/// // A threshold below two thirds of the holders is refused.
/// assert!(Params::builder(SessionId([1; 32]), 1000, Modulus::power_of_two(32)?, 10)
///     .neighbours(52)
///     .threshold(30)
///     .threat_model(ThreatModel::Malicious)
///     .build()
///     .is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    session: SessionId,
    clients: usize,
    threshold: usize,
    modulus: Modulus,
    vector_len: usize,
    neighbourhood: Neighbourhood,
    threat: ThreatModel,
    suite: MaskSuite,
    min_roster: usize,
}

impl Params {
    /// Validates and builds the parameters of a session of `clients` clients, Shamir threshold
    /// `threshold`, vectors of `vector_len` elements of `Z_modulus`, against an
    /// honest-but-curious server.
    ///
    /// The threshold must satisfy `2 <= threshold <= clients`. Security needs more: the
    /// condition of Bonawitz et al. (CCS 2017, Theorem 6.2), `threshold` above the number of
    /// corrupt clients, which `Params` cannot check because it does not know that number (take
    /// `t` from [`crate::finder::find`], or require a majority with
    /// [`ParamsBuilder::require_majority`]). The upper bound is plain correctness.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bound that fails.
    pub fn new(
        session: SessionId,
        clients: usize,
        threshold: usize,
        modulus: Modulus,
        vector_len: usize,
    ) -> Result<Self, ConfigError> {
        Self::builder(session, clients, modulus, vector_len)
            .threshold(threshold)
            .build()
    }

    /// Starts building parameters with more options: the neighbourhood graph (SecAgg+) and
    /// the threat model. Defaults: complete graph, honest-but-curious server, no majority
    /// requirement, and the threshold [`Params::majority_threshold`] of the share holders
    /// (more than two thirds against a malicious server).
    #[must_use]
    pub fn builder(
        session: SessionId,
        clients: usize,
        modulus: Modulus,
        vector_len: usize,
    ) -> ParamsBuilder {
        ParamsBuilder {
            session,
            clients,
            modulus,
            vector_len,
            threshold: None,
            neighbourhood: Neighbourhood::Complete,
            threat: ThreatModel::HonestButCurious,
            suite: MaskSuite::default(),
            min_roster: None,
            require_majority: false,
        }
    }

    /// A strict majority of `holders` share holders, `floor(holders / 2) + 1`: the default
    /// threshold against an honest-but-curious server, and the smallest one accepted there
    /// with [`ParamsBuilder::require_majority`].
    #[must_use]
    pub fn majority_threshold(holders: usize) -> usize {
        holders / 2 + 1
    }

    /// `floor(clients / 2) + 1`, a strict majority of `clients`.
    #[deprecated(
        since = "0.1.0",
        note = "a majority is no longer the smallest threshold accepted against an \
                honest-but-curious server (see `ParamsBuilder::require_majority`); use \
                `Params::majority_threshold`"
    )]
    #[must_use]
    pub fn min_threshold(clients: usize) -> usize {
        Self::majority_threshold(clients)
    }

    /// Whether the threshold is a strict majority of the share holders (`2t > h`), so that
    /// any two sets of `t` holders of one client intersect. Always true against a malicious
    /// server (more than two thirds); against an honest-but-curious one, true when built
    /// with [`ParamsBuilder::require_majority`], and possibly otherwise.
    #[must_use]
    pub fn has_majority_threshold(&self) -> bool {
        self.threshold.saturating_mul(2) > self.share_holders()
    }

    /// The neighbourhood graph.
    #[must_use]
    pub fn neighbourhood(&self) -> Neighbourhood {
        self.neighbourhood
    }

    /// The threat model.
    #[must_use]
    pub fn threat_model(&self) -> ThreatModel {
        self.threat
    }

    /// The stream cipher masks are expanded with.
    #[must_use]
    pub fn mask_suite(&self) -> MaskSuite {
        self.suite
    }

    /// How many clients hold shares of one client's secrets: its neighbours and itself.
    #[must_use]
    pub fn share_holders(&self) -> usize {
        holders(self.clients, self.neighbourhood)
    }

    /// The session id.
    #[must_use]
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The largest number of clients.
    #[must_use]
    pub fn clients(&self) -> usize {
        self.clients
    }

    /// The Shamir threshold `t`.
    #[must_use]
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The modulus.
    #[must_use]
    pub fn modulus(&self) -> Modulus {
        self.modulus
    }

    /// The vector length `d`.
    #[must_use]
    pub fn vector_len(&self) -> usize {
        self.vector_len
    }

    /// The smallest roster (`|U_1|`) a client accepts and a server sends: see
    /// [`ParamsBuilder::min_roster`].
    #[must_use]
    pub fn min_roster(&self) -> usize {
        self.min_roster
    }
}

fn holders(clients: usize, neighbourhood: Neighbourhood) -> usize {
    match neighbourhood {
        Neighbourhood::Complete => clients,
        Neighbourhood::Harary { k } => k.saturating_add(1).min(clients),
    }
}

/// The smallest threshold `Params` accepts among `holders` share holders.
///
/// Honest-but-curious: 2, since with `t = 1` every share is the secret. What security
/// needs, `t` above the number of corrupt holders (Bonawitz et al., CCS 2017, Theorem 6.2;
/// per neighbourhood for SecAgg+, Bell et al., CCS 2020), depends on a corruption rate
/// `Params` does not know: the finder computes it (`docs/FINDER.md`). With
/// `require_majority`, a strict majority, so two sets of `t` holders always intersect and a
/// server that shows different survivor sets to different holders (which an
/// honest-but-curious one never does) cannot collect `t` shares of both the self-mask
/// secret and the mask key of one client from honest holders alone.
///
/// Malicious: more than two thirds, the bound of §6.3 of that paper for a server that may
/// show different survivor sets to different clients while colluding with fewer than a
/// third of them; `require_majority` changes nothing there.
fn min_threshold(holders: usize, threat: ThreatModel, require_majority: bool) -> usize {
    match threat {
        ThreatModel::HonestButCurious if require_majority => Params::majority_threshold(holders),
        ThreatModel::HonestButCurious => 2,
        ThreatModel::Malicious => holders.saturating_mul(2) / 3 + 1,
    }
}

/// The threshold [`ParamsBuilder`] picks when none is given: a strict majority of the
/// holders (safe on the complete graph with fewer than half the clients corrupt, whatever
/// their number), more than two thirds against a malicious server.
fn default_threshold(holders: usize, threat: ThreatModel) -> usize {
    match threat {
        ThreatModel::HonestButCurious => Params::majority_threshold(holders),
        ThreatModel::Malicious => min_threshold(holders, threat, true),
    }
}

/// Builds [`Params`] with the options beyond [`Params::new`].
#[derive(Clone, Debug)]
pub struct ParamsBuilder {
    session: SessionId,
    clients: usize,
    modulus: Modulus,
    vector_len: usize,
    threshold: Option<usize>,
    neighbourhood: Neighbourhood,
    threat: ThreatModel,
    suite: MaskSuite,
    min_roster: Option<usize>,
    require_majority: bool,
}

impl ParamsBuilder {
    /// The Shamir threshold `t` (per neighbourhood). Default: a strict majority of the share
    /// holders ([`Params::majority_threshold`]), more than two thirds against a malicious
    /// server.
    ///
    /// Against an honest-but-curious server any `2 <= t <= holders` is accepted unless
    /// [`ParamsBuilder::require_majority`] is set: what security needs, `t` above the number
    /// of corrupt share holders of any honest client, depends on the corruption rate, which
    /// [`crate::finder::find`] takes into account and `Params` does not know.
    #[must_use]
    pub fn threshold(mut self, t: usize) -> Self {
        self.threshold = Some(t);
        self
    }

    /// SecAgg+: a random Harary graph of degree `k` (not counting the client itself).
    #[must_use]
    pub fn neighbours(mut self, k: usize) -> Self {
        self.neighbourhood = Neighbourhood::Harary { k };
        self
    }

    /// The stream cipher of the masks. Default: ChaCha20.
    #[must_use]
    pub fn mask_suite(mut self, suite: MaskSuite) -> Self {
        self.suite = suite;
        self
    }

    /// The threat model. Default: honest-but-curious.
    #[must_use]
    pub fn threat_model(mut self, threat: ThreatModel) -> Self {
        self.threat = threat;
        self
    }

    /// Defence in depth against an honest-but-curious server: refuse a threshold that is not
    /// a strict majority of the share holders (`t <= h / 2`). Default: not required.
    ///
    /// The honest-but-curious model (Bonawitz et al., CCS 2017, Theorem 6.2) needs only `t`
    /// above the number of corrupt holders; an honest-but-curious server sends every holder
    /// the same survivor set. A majority also protects against a server that deviates by
    /// naming one client a survivor to some holders and dropped to others: two sets of `t`
    /// holders then always share `2t - h >= 1` members, and an honest holder reveals at most
    /// one of a client's two secrets, so the server needs `2t - h` corrupt holders to unmask
    /// it, instead of none. It costs a larger degree at high dropout (`docs/FINDER.md`). It
    /// does not protect against a server that substitutes keys: that is what
    /// [`ThreatModel::Malicious`] is for, whose threshold (more than two thirds) is a
    /// majority anyway.
    ///
    /// This is a validation policy, not a parameter: it is not encoded in
    /// [`Params::to_bytes`]. A client that wants it checks it with
    /// [`Expectations::require_majority`].
    #[must_use]
    pub fn require_majority(mut self, required: bool) -> Self {
        self.require_majority = required;
        self
    }

    /// The smallest roster (`|U_1|`, the clients whose keys the server relays in ShareKeys)
    /// a client accepts; an honest server aborts rather than send a smaller one.
    ///
    /// The bounds of [`crate::finder`] hold for a roster of the size they were computed
    /// for; a server that shrinks the roster concentrates its colluders in it (with a roster
    /// of one victim and `t - 1` colluders it unmasks the victim). So against a malicious
    /// server the default is every client (`clients`): any client that fails to advertise
    /// aborts the session. A deployment that must tolerate dropouts before the roster sets
    /// the smallest roster it accepts here and computes `k` and `t` for that size (with the
    /// corrupt fraction scaled to it; `docs/FINDER.md`). Against an honest-but-curious server
    /// the default is the threshold, the smallest roster that can finish.
    ///
    /// Against a malicious server on a sparse graph (`k + 1 < clients`), the minimum must be
    /// at least `k + 2`, so that no roster turns the graph complete.
    #[must_use]
    pub fn min_roster(mut self, min_roster: usize) -> Self {
        self.min_roster = Some(min_roster);
        self
    }

    /// Checks every bound once and builds the parameters.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bound that fails: client count, vector length, degree,
    /// a threshold outside `[min, holders]` where `holders` is the degree plus one (or the
    /// client count on the complete graph) and `min` is 2 against an honest-but-curious
    /// server (a strict majority with [`ParamsBuilder::require_majority`]) and more than two
    /// thirds of the holders against a malicious one, or a minimum roster outside the range
    /// [`ParamsBuilder::min_roster`] gives.
    pub fn build(self) -> Result<Params, ConfigError> {
        let clients = self.clients;
        if !(2..=MAX_CLIENTS).contains(&clients) {
            return Err(ConfigError::ClientCount {
                clients,
                max: MAX_CLIENTS,
            });
        }
        if !(1..=MAX_VECTOR_LEN).contains(&self.vector_len) {
            return Err(ConfigError::VectorLength {
                len: self.vector_len,
                max: MAX_VECTOR_LEN,
            });
        }
        // An odd degree has no k-regular graph on an odd roster, and the roster size is only
        // known at run time: even degrees keep `holders = k + 1` true for every roster.
        if let Neighbourhood::Harary { k } = self.neighbourhood
            && (k < 2 || k % 2 == 1)
        {
            return Err(ConfigError::Degree { k, clients });
        }
        let holders = holders(clients, self.neighbourhood);
        let min = min_threshold(holders, self.threat, self.require_majority);
        let threshold = self
            .threshold
            .unwrap_or_else(|| default_threshold(holders, self.threat));
        if threshold < min || threshold > holders {
            return Err(ConfigError::Threshold {
                threshold,
                clients: holders,
                min,
            });
        }
        let min_roster = self.min_roster.unwrap_or(match self.threat {
            ThreatModel::HonestButCurious => threshold,
            ThreatModel::Malicious => clients,
        });
        // SECURITY: against a malicious server a sparse session never runs on a roster small
        // enough to turn the graph complete (the sparse graph's bounds would not cover it).
        let lowest = match (self.threat, self.neighbourhood) {
            (ThreatModel::Malicious, Neighbourhood::Harary { k })
                if k.saturating_add(1) < clients =>
            {
                threshold.max(k.saturating_add(2))
            }
            _ => threshold,
        };
        if min_roster < lowest || min_roster > clients {
            return Err(ConfigError::MinRoster {
                min_roster,
                lowest,
                clients,
            });
        }
        Ok(Params {
            session: self.session,
            clients,
            threshold,
            modulus: self.modulus,
            vector_len: self.vector_len,
            neighbourhood: self.neighbourhood,
            threat: self.threat,
            suite: self.suite,
            min_roster,
        })
    }
}

/// The version byte of encoded [`Params`] (`docs/WIRE.md`, "Parameters").
pub const PARAMS_VERSION: u8 = 1;

/// Bytes of encoded [`Params`].
pub const PARAMS_LEN: usize = 1 + 32 + 4 + 4 + 1 + 8 + 4 + 1 + 4 + 1 + 1 + 4;

impl Params {
    /// The canonical encoding (`docs/WIRE.md`, "Parameters"): what a server hands its
    /// clients, and what a saved state is bound to.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; PARAMS_LEN] {
        let mut out = [0u8; PARAMS_LEN];
        let u32_of = |x: usize| u32::try_from(x).unwrap_or(u32::MAX).to_be_bytes();
        let (modulus_tag, modulus_value) = match self.modulus.power_of_two_bits() {
            Some(bits) => (0u8, u64::from(bits)),
            None => (1u8, u64::try_from(self.modulus.value()).unwrap_or(u64::MAX)),
        };
        let (graph_tag, k) = match self.neighbourhood {
            Neighbourhood::Complete => (0u8, 0),
            Neighbourhood::Harary { k } => (1u8, k),
        };
        let fields: [&[u8]; 12] = [
            &[PARAMS_VERSION],
            self.session.as_bytes(),
            &u32_of(self.clients),
            &u32_of(self.threshold),
            &[modulus_tag],
            &modulus_value.to_be_bytes(),
            &u32_of(self.vector_len),
            &[graph_tag],
            &u32_of(k),
            &[match self.threat {
                ThreatModel::HonestButCurious => 0,
                ThreatModel::Malicious => 1,
            }],
            &[match self.suite {
                MaskSuite::ChaCha20 => 0,
                MaskSuite::Aes128Ctr => 1,
            }],
            &u32_of(self.min_roster),
        ];
        let mut at = 0;
        for field in fields {
            if let Some(dst) = out.get_mut(at..at + field.len()) {
                dst.copy_from_slice(field);
            }
            at += field.len();
        }
        out
    }

    /// Decodes and validates parameters: exactly [`PARAMS_LEN`] bytes in the canonical
    /// encoding, then every bound of [`ParamsBuilder::build`].
    ///
    /// # Errors
    /// [`ConfigError::Malformed`] for bytes that are not a canonical encoding, and every
    /// error of [`ParamsBuilder::build`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let malformed = |e| ConfigError::Malformed(e);
        let fixed: &[u8; PARAMS_LEN] = bytes.try_into().map_err(|_| {
            malformed(if bytes.len() < PARAMS_LEN {
                DecodeError::TooShort {
                    needed: PARAMS_LEN,
                    remaining: bytes.len(),
                }
            } else {
                DecodeError::TrailingBytes {
                    count: bytes.len() - PARAMS_LEN,
                }
            })
        })?;
        let mut rest: &[u8] = fixed;
        let mut take = |n: usize| -> &[u8] {
            let (head, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            head
        };
        let u8_at = |b: &[u8]| b.first().copied().unwrap_or(0);
        let u32_at = |b: &[u8]| {
            let word: [u8; 4] = b.try_into().unwrap_or([0xff; 4]);
            usize::try_from(u32::from_be_bytes(word)).unwrap_or(usize::MAX)
        };
        let version = u8_at(take(1));
        if version != PARAMS_VERSION {
            return Err(malformed(DecodeError::UnknownVersion(version)));
        }
        let session = SessionId(take(32).try_into().unwrap_or([0; 32]));
        let clients = u32_at(take(4));
        let threshold = u32_at(take(4));
        let modulus_tag = u8_at(take(1));
        let modulus_value = u64::from_be_bytes(take(8).try_into().unwrap_or([0; 8]));
        let vector_len = u32_at(take(4));
        let graph_tag = u8_at(take(1));
        let k = u32_at(take(4));
        let threat = u8_at(take(1));
        let suite = u8_at(take(1));
        let min_roster = u32_at(take(4));
        let modulus = match modulus_tag {
            0 => Modulus::power_of_two(u32::try_from(modulus_value).unwrap_or(u32::MAX))?,
            1 => Modulus::new(modulus_value)?,
            _ => return Err(malformed(DecodeError::NonCanonical("modulus tag"))),
        };
        let mut builder = Params::builder(session, clients, modulus, vector_len)
            .threshold(threshold)
            .min_roster(min_roster)
            .threat_model(match threat {
                0 => ThreatModel::HonestButCurious,
                1 => ThreatModel::Malicious,
                _ => return Err(malformed(DecodeError::NonCanonical("threat model"))),
            })
            .mask_suite(match suite {
                0 => MaskSuite::ChaCha20,
                1 => MaskSuite::Aes128Ctr,
                _ => return Err(malformed(DecodeError::NonCanonical("mask suite"))),
            });
        builder = match graph_tag {
            0 => builder,
            1 => builder.neighbours(k),
            _ => return Err(malformed(DecodeError::NonCanonical("graph"))),
        };
        let params = builder.build()?;
        // Canonical: one encoding per parameter set (a complete graph's degree is 0; a
        // power-of-two modulus is never written as a number).
        if params.to_bytes() != *fixed {
            return Err(malformed(DecodeError::NonCanonical("parameters")));
        }
        Ok(params)
    }

    /// Decodes parameters a server handed this client and checks them against what the
    /// client itself requires: its own session id, threat model, floors on the threshold
    /// and degree, and, if it asks for it, a threshold that is a strict majority of the
    /// share holders. The client's floors, never the server's, decide.
    ///
    /// # Errors
    /// Every error of [`Params::from_bytes`], and [`ConfigError::Unexpected`] naming the
    /// first expectation that fails.
    pub fn from_bytes_expecting(
        bytes: &[u8],
        expected: &Expectations,
    ) -> Result<Self, ConfigError> {
        let params = Self::from_bytes(bytes)?;
        expected.check(&params)?;
        Ok(params)
    }
}

/// What a client requires of the parameters a server hands it ([`Params::from_bytes_expecting`]).
/// The floors are the client's own: a server cannot lower the threshold or the degree it
/// runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectations {
    /// The session the client was told to join.
    pub session: SessionId,
    /// The threat model the client insists on.
    pub threat_model: ThreatModel,
    /// The smallest threshold `t` the client accepts.
    pub min_threshold: usize,
    /// The smallest degree `k` the client accepts (the complete graph counts as `n - 1`).
    pub min_neighbours: usize,
    /// The largest session (clients) the client joins.
    pub max_clients: usize,
    /// The largest vector length the client accepts.
    pub max_vector_len: usize,
    /// Whether the client requires a threshold that is a strict majority of the share holders
    /// ([`ParamsBuilder::require_majority`]: defence in depth against an honest-but-curious
    /// server that deviates). The majority policy is not part of the encoded parameters, so
    /// a server cannot switch it off for a client that sets this: the client checks the
    /// threshold and degree it received.
    pub require_majority: bool,
}

impl Expectations {
    /// Checks `params` against these expectations.
    ///
    /// # Errors
    /// [`ConfigError::Unexpected`] naming the first one that fails.
    pub fn check(&self, params: &Params) -> Result<(), ConfigError> {
        let degree = params.share_holders().saturating_sub(1);
        let failed = [
            ("session", params.session != self.session),
            ("threat model", params.threat != self.threat_model),
            ("threshold", params.threshold < self.min_threshold),
            ("neighbours", degree < self.min_neighbours),
            ("clients", params.clients > self.max_clients),
            ("vector length", params.vector_len > self.max_vector_len),
            (
                "majority threshold",
                self.require_majority && !params.has_majority_threshold(),
            ),
        ];
        match failed.iter().find(|(_, bad)| *bad) {
            Some((what, _)) => Err(ConfigError::Unexpected { what }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_but_curious_accepts_any_threshold_from_two_unless_a_majority_is_required() {
        let m = Modulus::power_of_two(32).unwrap();
        let sid = SessionId([0; 32]);
        // The model's condition (t above the corrupt holders) is the finder's: Params only
        // refuses t = 1 (every share is the secret) and t above the holders.
        for t in [2, 5, 6, 10] {
            assert_eq!(Params::new(sid, 10, t, m, 4).unwrap().threshold(), t);
        }
        assert!(
            !Params::new(sid, 10, 5, m, 4)
                .unwrap()
                .has_majority_threshold()
        );
        assert!(
            Params::new(sid, 10, 6, m, 4)
                .unwrap()
                .has_majority_threshold()
        );
        assert!(matches!(
            Params::new(sid, 10, 1, m, 4),
            Err(ConfigError::Threshold { min: 2, .. })
        ));
        assert!(Params::new(sid, 10, 11, m, 4).is_err());
        assert!(Params::new(sid, 1, 1, m, 4).is_err());
        assert!(Params::new(sid, 3, 2, m, 0).is_err());
        // Defence in depth: a strict majority of the 10 holders.
        let majority = |t| {
            Params::builder(sid, 10, m, 4)
                .threshold(t)
                .require_majority(true)
                .build()
        };
        assert!(matches!(
            majority(5),
            Err(ConfigError::Threshold { min: 6, .. })
        ));
        assert_eq!(majority(6).unwrap().threshold(), 6);
        // The default threshold is the majority either way.
        let default = Params::builder(sid, 10, m, 4).build().unwrap();
        assert_eq!(default.threshold(), Params::majority_threshold(10));
        assert_eq!(default.threshold(), 6);
    }

    #[test]
    fn require_majority_changes_nothing_against_a_malicious_server() {
        let m = Modulus::power_of_two(32).unwrap();
        let sid = SessionId([0; 32]);
        for majority in [false, true] {
            let build = |t| {
                Params::builder(sid, 1000, m, 8)
                    .neighbours(20)
                    .threshold(t)
                    .threat_model(ThreatModel::Malicious)
                    .require_majority(majority)
                    .build()
            };
            // More than two thirds of 21 holders: 15.
            assert!(matches!(
                build(14),
                Err(ConfigError::Threshold { min: 15, .. })
            ));
            assert!(build(15).unwrap().has_majority_threshold());
        }
    }

    #[test]
    fn expectations_can_demand_a_majority() {
        let m = Modulus::power_of_two(32).unwrap();
        let sid = SessionId([3; 32]);
        let minority = Params::builder(sid, 1000, m, 8)
            .neighbours(20)
            .threshold(8)
            .build()
            .unwrap();
        let majority = Params::builder(sid, 1000, m, 8)
            .neighbours(20)
            .threshold(11)
            .require_majority(true)
            .build()
            .unwrap();
        let mut expect = Expectations {
            session: sid,
            threat_model: ThreatModel::HonestButCurious,
            min_threshold: 2,
            min_neighbours: 20,
            max_clients: 1000,
            max_vector_len: 8,
            require_majority: false,
        };
        assert_eq!(
            Params::from_bytes_expecting(&minority.to_bytes(), &expect),
            Ok(minority.clone())
        );
        expect.require_majority = true;
        assert_eq!(
            Params::from_bytes_expecting(&minority.to_bytes(), &expect),
            Err(ConfigError::Unexpected {
                what: "majority threshold"
            })
        );
        assert_eq!(
            Params::from_bytes_expecting(&majority.to_bytes(), &expect),
            Ok(majority)
        );
    }

    #[test]
    fn thresholds_follow_neighbourhood_and_threat() {
        let m = Modulus::power_of_two(32).unwrap();
        let sid = SessionId([0; 32]);
        let p = Params::builder(sid, 1000, m, 8)
            .neighbours(20)
            .build()
            .unwrap();
        assert_eq!(p.share_holders(), 21);
        assert_eq!(p.threshold(), 11);
        let p = Params::builder(sid, 1000, m, 8)
            .neighbours(20)
            .threat_model(ThreatModel::Malicious)
            .build()
            .unwrap();
        assert_eq!(p.threshold(), 15);
        assert!(matches!(
            Params::builder(sid, 1000, m, 8)
                .neighbours(20)
                .threshold(22)
                .build(),
            Err(ConfigError::Threshold {
                min: 2,
                clients: 21,
                ..
            })
        ));
        assert!(matches!(
            Params::builder(sid, 1000, m, 8)
                .neighbours(20)
                .threshold(10)
                .require_majority(true)
                .build(),
            Err(ConfigError::Threshold {
                min: 11,
                clients: 21,
                ..
            })
        ));
        assert!(matches!(
            Params::builder(sid, 1000, m, 8).neighbours(1).build(),
            Err(ConfigError::Degree { k: 1, .. })
        ));
        let p = Params::builder(sid, 10, m, 8)
            .neighbours(50)
            .build()
            .unwrap();
        assert_eq!(p.share_holders(), 10);
        let p = Params::builder(sid, 9, m, 8)
            .threat_model(ThreatModel::Malicious)
            .build()
            .unwrap();
        assert_eq!(p.threshold(), 7);
    }
}
