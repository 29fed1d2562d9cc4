//! The malicious-server mode (Bonawitz et al., CCS 2017, §6.3 and the ConsistencyCheck round of
//! Fig. 4; Bell et al., CCS 2020, for the sparse graph) against a scripted malicious server.
//!
//! Every test runs on the complete graph (n = 7, t = 5) and on a random Harary graph (n = 12,
//! k = 6, so 7 share holders per neighbourhood and t = 5), through [`Script`]: honest clients
//! run the per-round API, and a scripted server sends them the messages an honest server would,
//! after the test's hooks have tampered with them. A hook returns the exact error the client
//! must refuse with (`None`: it must answer). A client that refuses leaves the session; the
//! server goes on with the others.
//!
//! Besides each typed refusal, every test checks what the server ended up with
//! ([`Report::assert_no_input_exposed`]): over all `UnmaskingResponse`s it collected (if any),
//! plus the shares held by the clients it colludes with, it must never hold `t` self-mask
//! shares *and* `t` key shares of a client whose masked input it has. Most refusals happen
//! before anything is revealed, so the count is often zero; the split-view tests are where it
//! matters, and one test checks that the count does catch a leak once the corruption bound of
//! the threat model is exceeded.
//!
//! Where the expected refusal depends on the neighbourhood graph, it is computed here from a
//! graph recomputed from the roster ([`Graph`], [`roster_digest`]), as each client does.

use core::cell::RefCell;
use core::fmt::Debug;
use std::collections::{BTreeMap, BTreeSet};

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::harness::{copy_response, refused};
use secagg::protocol::graph::{Graph, roster_digest};
use secagg::protocol::roster_tree::{SurvivorTree, survivor_digest_of};
use secagg::protocol::{client, messages as msg, server, session};
use secagg::{
    AbortReason, ApiMisuse, ClientId, Error, IdentityKey, Misbehavior, Modulus, Output, Params,
    Party, Pki, PlainInput, Rejected, Round, SessionId, Signature, ThreatModel,
};

const D: usize = 8;
/// The threshold of both graph kinds: more than two thirds of the 7 share holders.
const T: usize = 5;
const SESSION: SessionId = SessionId([0x3a; 32]);
const OTHER_SESSION: SessionId = SessionId([0xc5; 32]);

// ---------------------------------------------------------------------------------------
// Sessions and their parameters.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// SecAgg: n = 7, every client holds shares of every other.
    Complete,
    /// SecAgg+: n = 12 on a Harary graph of degree 6.
    Sparse,
}

const KINDS: [Kind; 2] = [Kind::Complete, Kind::Sparse];

impl Kind {
    fn n(self) -> u32 {
        match self {
            Self::Complete => 7,
            Self::Sparse => 12,
        }
    }

    fn params(self, session: SessionId) -> Params {
        let n = usize::try_from(self.n()).unwrap();
        // One client may fail to advertise (the default minimum roster against a malicious
        // server is every client), so the scripts below can silence one at AdvertiseKeys and
        // show one group a roster without one entry.
        let builder = Params::builder(session, n, modulus(), D)
            .threat_model(ThreatModel::Malicious)
            .min_roster(n - 1);
        let builder = match self {
            Self::Complete => builder,
            Self::Sparse => builder.neighbours(6),
        };
        let params = builder.build().unwrap();
        assert_eq!(params.threshold(), T);
        params
    }
}

fn modulus() -> Modulus {
    Modulus::power_of_two(32).unwrap()
}

fn id(i: u32) -> ClientId {
    ClientId(i)
}

fn ids(n: u32) -> Vec<ClientId> {
    (1..=n).map(ClientId).collect()
}

/// Client `u`'s long-term identity key, rebuilt from a fixed seed whenever a test needs it
/// (to give a client its identity, or to let a corrupt client sign whatever the server wants).
fn identity_key(u: ClientId) -> IdentityKey {
    let mut seed = [0x1d; 32];
    seed[..4].copy_from_slice(&u.0.to_be_bytes());
    IdentityKey::from_seed(&seed)
}

fn pki(n: u32) -> Pki {
    Pki::new(
        ids(n)
            .into_iter()
            .map(|u| (u, identity_key(u).public_key())),
    )
}

/// A key pair the server made up: an identity key that is in nobody's PKI entry.
fn server_identity() -> IdentityKey {
    IdentityKey::from_seed(&[0xee; 32])
}

/// Client `u`'s input: distinct per client and per position.
fn input_of(u: ClientId) -> Vec<u64> {
    (0..D)
        .map(|i| u64::from(u.0) * 1_000_003 + u64::try_from(i).unwrap() * 7_919 + 11)
        .collect()
}

fn sum_of(included: &[ClientId]) -> Vec<u64> {
    let m = modulus().value();
    (0..D)
        .map(|i| {
            let s = included
                .iter()
                .fold(0u128, |acc, &u| (acc + u128::from(input_of(u)[i])) % m);
            u64::try_from(s).unwrap()
        })
        .collect()
}

fn by_server(round: Round, what: Misbehavior) -> Error {
    Error::Misbehaved {
        by: Party::Server,
        round,
        what,
    }
}

fn graph_of(params: &Params, entries: &[msg::AdvertiseKeys]) -> Graph {
    let members: Vec<ClientId> = entries.iter().map(|e| e.sender).collect();
    Graph::new(
        params.neighbourhood(),
        params.session(),
        &roster_digest(entries),
        &members,
    )
}

fn holders_in(graph: &Graph, u: ClientId) -> BTreeSet<ClientId> {
    let mut h = graph.neighbours(u);
    h.insert(u);
    h
}

// ---------------------------------------------------------------------------------------
// What the scripted server knows, and what it would send if it were honest.
// ---------------------------------------------------------------------------------------

/// The session as the server sees it so far.
struct World {
    params: Params,
    /// The roster of everyone who advertised (what an honest server sends).
    roster: msg::Roster,
    /// The graph every client derives from that roster.
    graph: Graph,
    /// Each client's ShareKeys message.
    sent: BTreeMap<ClientId, msg::ShareKeys>,
    /// Share senders (`U_2`) and masked-input senders (`U_3`).
    u2: BTreeSet<ClientId>,
    u3: BTreeSet<ClientId>,
    /// Each signer's ConsistencyCheck signature and the set it signed.
    signed: BTreeMap<ClientId, (Vec<ClientId>, Signature)>,
}

impl World {
    fn session(&self) -> SessionId {
        *self.params.session()
    }

    fn members(&self) -> Vec<ClientId> {
        self.roster.entries.iter().map(|e| e.sender).collect()
    }

    /// The survivor digest of `survivors` over this roster: what a client shown them signs.
    fn survivor_digest(&self, survivors: &[ClientId]) -> [u8; 32] {
        let set: BTreeSet<ClientId> = survivors.iter().copied().collect();
        survivor_digest_of(&self.members(), &set).unwrap()
    }

    /// The consistency request an honest server sends `u`: all of `U_3` on the complete
    /// graph, the statuses of `H(u)` with their proof on the sparse graph.
    fn honest_consistency(&self, u: ClientId) -> msg::ConsistencyRequest {
        let view: Vec<ClientId> = self.holders(u).into_iter().collect();
        let complete = view.len() == self.members().len();
        let (shown, dropped): (Vec<ClientId>, Vec<ClientId>) =
            view.iter().partition(|v| self.u3.contains(v));
        let tree = SurvivorTree::new(&self.members(), &self.u3).unwrap();
        msg::ConsistencyRequest {
            session: self.session(),
            recipient: u,
            survivors: if complete {
                self.u3.iter().copied().collect()
            } else {
                shown
            },
            slice: (!complete).then(|| msg::SurvivorSlice {
                dropped,
                proof: tree.prove(&view),
            }),
        }
    }

    fn neighbours(&self, u: ClientId) -> BTreeSet<ClientId> {
        self.graph.neighbours(u)
    }

    fn holders(&self, u: ClientId) -> BTreeSet<ClientId> {
        holders_in(&self.graph, u)
    }

    /// The smallest roster member outside `u`'s neighbourhood (SecAgg+ only).
    fn non_neighbour(&self, u: ClientId) -> ClientId {
        let h = self.holders(u);
        *self.members().iter().find(|v| !h.contains(v)).unwrap()
    }

    /// Every ciphertext sealed to `u`, by ascending sender: what an honest server delivers.
    fn delivery_for(&self, u: ClientId) -> msg::SharesDelivery {
        let to_u = |m: &&msg::ShareKeys| m.sealed.iter().any(|s| s.recipient == u);
        msg::SharesDelivery {
            session: self.session(),
            recipient: u,
            sealed: self
                .sent
                .values()
                .flat_map(|m| &m.sealed)
                .filter(|s| s.recipient == u)
                .cloned()
                .collect(),
            roster_signatures: self
                .sent
                .values()
                .filter(to_u)
                .filter_map(|m| Some((m.sender, m.roster_signature?)))
                .collect(),
        }
    }

    /// The ciphertext `from` sealed to `to`.
    fn sealed(&self, from: ClientId, to: ClientId) -> msg::SealedShares {
        self.sent[&from]
            .sealed
            .iter()
            .find(|s| s.recipient == to)
            .unwrap()
            .clone()
    }

    fn signature_of(&self, u: ClientId) -> Signature {
        self.signed[&u].1
    }

    /// The unmasking request an honest server sends `u`, given the set `u` signed: the signed
    /// survivors of `H(u)`, the live neighbours outside that set as dropped, and the
    /// signatures of `H(u)` over that very set, by ascending signer. (The driver checks it
    /// against the honest server's request whenever there is one.)
    fn request_for(&self, u: ClientId) -> msg::UnmaskingRequest {
        let mine = &self.signed[&u].0;
        let set: BTreeSet<ClientId> = mine.iter().copied().collect();
        let h = self.holders(u);
        msg::UnmaskingRequest {
            session: self.session(),
            recipient: u,
            survivors: set.iter().filter(|v| h.contains(v)).copied().collect(),
            dropped: self
                .u2
                .iter()
                .filter(|v| h.contains(v) && !set.contains(v))
                .copied()
                .collect(),
            signatures: self
                .signed
                .iter()
                .filter(|(s, (theirs, _))| h.contains(s) && theirs == mine)
                .map(|(s, (_, sig))| (*s, *sig))
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The scripted server.
// ---------------------------------------------------------------------------------------

/// A hook: tampers with the message for one client and returns the refusal that client must
/// answer with (`None`: it must accept).
type Hook<'a, M> = Box<dyn FnMut(&World, ClientId, &mut M) -> Option<Error> + 'a>;

/// What a client is expected to do with its message.
enum Expect {
    Accept,
    Refuse(Error),
    /// Either (rounds after an attack that made the clients' views diverge, in `lenient`
    /// scripts): a refusal is recorded, not checked.
    Any,
}

#[must_use]
struct Script<'a> {
    kind: Kind,
    session: SessionId,
    seed: u64,
    silent: BTreeMap<ClientId, Round>,
    lenient: bool,
    roster: Option<Hook<'a, msg::Roster>>,
    delivery: Option<Hook<'a, msg::SharesDelivery>>,
    consistency: Option<Hook<'a, msg::ConsistencyRequest>>,
    unmasking: Option<Hook<'a, msg::UnmaskingRequest>>,
}

/// The session up to MaskedInputCollection, for the tests that go on by hand.
struct Masked {
    world: World,
    clients: BTreeMap<ClientId, client::MaskedInput>,
    server: Option<server::MaskedInput>,
}

/// How a scripted session ended.
struct Report {
    world: World,
    /// Every response the server received.
    responses: Vec<msg::UnmaskingResponse>,
    /// Every refusal, by client.
    refusals: BTreeMap<ClientId, Error>,
    /// The honest server's result, where the honest server could follow the session.
    output: Option<Result<Output, Error>>,
}

fn call<M>(
    hook: &mut Option<Hook<'_, M>>,
    world: &World,
    u: ClientId,
    message: &mut M,
    lenient: bool,
) -> Expect {
    match hook {
        Some(hook) => match hook(world, u, message) {
            None => Expect::Accept,
            Some(e) => Expect::Refuse(e),
        },
        None if lenient => Expect::Any,
        None => Expect::Accept,
    }
}

/// Checks a client step against what was expected; returns its output if it answered.
#[track_caller]
fn settle<V: Debug>(
    u: ClientId,
    result: Result<V, Error>,
    expect: Expect,
    refusals: &mut BTreeMap<ClientId, Error>,
) -> Option<V> {
    match (result, expect) {
        (Ok(v), Expect::Accept | Expect::Any) => Some(v),
        (Ok(v), Expect::Refuse(e)) => {
            panic!("{u} answered {v:?} but should have refused with: {e}")
        }
        (Err(e), Expect::Accept) => panic!("{u} refused: {e}"),
        (Err(e), Expect::Refuse(want)) => {
            assert_eq!(e, want, "{u}");
            refusals.insert(u, e);
            None
        }
        (Err(e), Expect::Any) => {
            refusals.insert(u, e);
            None
        }
    }
}

/// Round 0 for every client of `kind` in `session`, with all randomness from `seed`: the
/// server (with the PKI), the client states and the rng to go on with.
type Advertised = (
    server::ShareKeys,
    BTreeMap<ClientId, client::AdvertiseKeys>,
    msg::Roster,
    ChaCha20Rng,
);

fn advertise(kind: Kind, session: SessionId, seed: u64, silent: &[ClientId]) -> Advertised {
    let params = kind.params(session);
    let pki = pki(kind.n());
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut srv = server::AdvertiseKeys::with_pki(&params, pki.clone());
    let mut clients = BTreeMap::new();
    let mut entries = Vec::new();
    for u in ids(kind.n()) {
        let identity = client::Identity::new(identity_key(u), pki.clone());
        let (c, out) = client::AdvertiseKeys::with_identity(&params, u, identity, &mut rng);
        if !silent.contains(&u) {
            entries.push(out.clone());
            srv.receive(u, out).unwrap();
            clients.insert(u, c);
        }
    }
    let (srv, _views) = srv.close().unwrap();
    // The whole roster, which clients accept on either graph: the tampering below edits
    // it (the views an honest SecAgg+ server sends are tested in tests/secagg_plus.rs).
    let roster = msg::Roster {
        session,
        entries,
        slice: None,
    };
    (srv, clients, roster, rng)
}

/// The graph of an honest session of `kind` with `seed` in which everyone advertised.
fn graph_for(kind: Kind, seed: u64) -> Graph {
    let (_, _, roster, _) = advertise(kind, SESSION, seed, &[]);
    graph_of(&kind.params(SESSION), &roster.entries)
}

impl<'a> Script<'a> {
    fn new(kind: Kind, seed: u64) -> Self {
        Self {
            kind,
            session: SESSION,
            seed,
            silent: BTreeMap::new(),
            lenient: false,
            roster: None,
            delivery: None,
            consistency: None,
            unmasking: None,
        }
    }

    fn session(mut self, session: SessionId) -> Self {
        self.session = session;
        self
    }

    /// The clients go silent from `round` on.
    fn silent(mut self, clients: &[ClientId], round: Round) -> Self {
        for &u in clients {
            self.silent.insert(u, round);
        }
        self
    }

    /// In rounds without a hook, clients may refuse (their views diverged earlier).
    fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }

    fn on_roster(
        mut self,
        hook: impl FnMut(&World, ClientId, &mut msg::Roster) -> Option<Error> + 'a,
    ) -> Self {
        self.roster = Some(Box::new(hook));
        self
    }

    fn on_delivery(
        mut self,
        hook: impl FnMut(&World, ClientId, &mut msg::SharesDelivery) -> Option<Error> + 'a,
    ) -> Self {
        self.delivery = Some(Box::new(hook));
        self
    }

    fn on_consistency(
        mut self,
        hook: impl FnMut(&World, ClientId, &mut msg::ConsistencyRequest) -> Option<Error> + 'a,
    ) -> Self {
        self.consistency = Some(Box::new(hook));
        self
    }

    fn on_unmasking(
        mut self,
        hook: impl FnMut(&World, ClientId, &mut msg::UnmaskingRequest) -> Option<Error> + 'a,
    ) -> Self {
        self.unmasking = Some(Box::new(hook));
        self
    }

    fn speaks(&self, u: ClientId, round: Round) -> bool {
        self.silent.get(&u).is_none_or(|r| *r > round)
    }

    fn silent_in(&self, round: Round) -> Vec<ClientId> {
        self.silent
            .iter()
            .filter(|(_, r)| **r <= round)
            .map(|(u, _)| *u)
            .collect()
    }

    /// Rounds 0 to 2. The scripted server relays every ciphertext to its recipient; an honest
    /// server runs alongside as long as it accepts every message, and its deliveries must be
    /// the relayed ones.
    fn run_to_masked(&mut self, refusals: &mut BTreeMap<ClientId, Error>) -> Masked {
        let lenient = self.lenient;
        let silent = self.silent_in(Round::AdvertiseKeys);
        let (mut srv1, advertised, roster, mut rng) =
            advertise(self.kind, self.session, self.seed, &silent);
        let params = self.kind.params(self.session);
        let graph = graph_of(&params, &roster.entries);
        let mut world = World {
            params,
            roster,
            graph,
            sent: BTreeMap::new(),
            u2: BTreeSet::new(),
            u3: BTreeSet::new(),
            signed: BTreeMap::new(),
        };

        // Round 1 (ShareKeys).
        let mut accepted = true;
        let mut sharing = BTreeMap::new();
        for (u, c) in advertised {
            if !self.speaks(u, Round::ShareKeys) {
                continue;
            }
            let mut roster = world.roster.clone();
            let expect = call(&mut self.roster, &world, u, &mut roster, lenient);
            if let Some((c, out)) = settle(u, c.share_keys(&roster, &mut rng), expect, refusals) {
                accepted &= srv1.receive(u, out.clone()).is_ok();
                world.sent.insert(u, out);
                sharing.insert(u, c);
            }
        }
        world.u2 = sharing.keys().copied().collect();
        let mut srv2 = None;
        if accepted && let Ok((s, deliveries)) = srv1.close() {
            for d in &deliveries {
                assert_eq!(d, &world.delivery_for(d.recipient));
            }
            srv2 = Some(s);
        }

        // Round 2 (MaskedInputCollection).
        let mut masking = BTreeMap::new();
        for (u, c) in sharing {
            if !self.speaks(u, Round::MaskedInput) {
                continue;
            }
            let mut delivery = world.delivery_for(u);
            let expect = call(&mut self.delivery, &world, u, &mut delivery, lenient);
            let input = PlainInput::new(input_of(u));
            let result = c.masked_input(&delivery, &input);
            if let Some((c, out)) = settle(u, result, expect, refusals) {
                if let Some(s) = srv2.as_mut()
                    && s.receive(u, out).is_err()
                {
                    srv2 = None;
                }
                masking.insert(u, c);
            }
        }
        world.u3 = masking.keys().copied().collect();
        Masked {
            world,
            clients: masking,
            server: srv2,
        }
    }

    /// The whole session.
    fn run(mut self) -> Report {
        let mut refusals = BTreeMap::new();
        let lenient = self.lenient;
        let Masked {
            mut world,
            clients,
            server: srv2,
        } = self.run_to_masked(&mut refusals);

        // Round 3 (ConsistencyCheck): everyone is shown U_3 unless the hook says otherwise.
        let (mut srv3, honest_requests) = match srv2.map(server::MaskedInput::close_for_consistency)
        {
            Some(Ok((s, requests))) => (Some(s), Some(by_recipient(requests))),
            _ => (None, None),
        };
        let mut checking = BTreeMap::new();
        for (u, c) in clients {
            if !self.speaks(u, Round::Consistency) {
                continue;
            }
            // The whole survivor list (these clients hold the whole roster); an honest server
            // sends the same on the complete graph, and the slice of it on the sparse graph.
            let mut request = msg::ConsistencyRequest {
                session: world.session(),
                recipient: u,
                survivors: world.u3.iter().copied().collect(),
                slice: None,
            };
            if let Some(honest) = &honest_requests {
                assert_eq!(honest.get(&u), Some(&world.honest_consistency(u)));
            }
            let expect = call(&mut self.consistency, &world, u, &mut request, lenient);
            if let Some((c, out)) = settle(u, c.consistency(&request), expect, &mut refusals) {
                let set: BTreeSet<ClientId> = request.survivors.iter().copied().collect();
                world
                    .signed
                    .insert(u, (set.into_iter().collect(), out.signature));
                if let Some(s) = srv3.as_mut()
                    && s.receive(u, out).is_err()
                {
                    srv3 = None;
                }
                checking.insert(u, c);
            }
        }

        // Round 4 (Unmasking).
        let (mut srv4, honest_requests) = match srv3.map(server::Consistency::close) {
            Some(Ok((s, requests))) => (Some(s), Some(by_recipient(requests))),
            _ => (None, None),
        };
        let mut responses = Vec::new();
        for (u, c) in checking {
            if !self.speaks(u, Round::Unmasking) {
                continue;
            }
            let mut request = world.request_for(u);
            if let Some(honest) = &honest_requests {
                assert_eq!(honest.get(&u), Some(&request));
            }
            let expect = call(&mut self.unmasking, &world, u, &mut request, lenient);
            if let Some((_done, response)) = settle(u, c.unmasking(&request), expect, &mut refusals)
            {
                if let Some(s) = srv4.as_mut() {
                    // A refused response leaves the honest server's state as it was.
                    let _ = s.receive(u, copy_response(&response));
                }
                responses.push(response);
            }
        }
        Report {
            world,
            responses,
            refusals,
            output: srv4.map(server::Unmasking::finish),
        }
    }
}

fn by_recipient<R: HasRecipient>(requests: Vec<R>) -> BTreeMap<ClientId, R> {
    requests.into_iter().map(|r| (r.recipient(), r)).collect()
}

trait HasRecipient {
    fn recipient(&self) -> ClientId;
}

impl HasRecipient for msg::ConsistencyRequest {
    fn recipient(&self) -> ClientId {
        self.recipient
    }
}

impl HasRecipient for msg::UnmaskingRequest {
    fn recipient(&self) -> ClientId {
        self.recipient
    }
}

impl Report {
    /// How many distinct holders' self-mask shares and key shares of `v` the server holds:
    /// those revealed to it, and those held by the clients in `corrupt`.
    fn known_shares(&self, v: ClientId, corrupt: &BTreeSet<ClientId>) -> (usize, usize) {
        let h = self.world.holders(v);
        let count = |key: bool| {
            let mut holders: BTreeSet<ClientId> = corrupt.intersection(&h).copied().collect();
            for r in &self.responses {
                let list = if key {
                    &r.key_shares
                } else {
                    &r.self_mask_shares
                };
                if list.iter().any(|(owner, _)| *owner == v) {
                    holders.insert(r.sender);
                }
            }
            holders.len()
        };
        (count(false), count(true))
    }

    /// The honest clients whose masked input the server holds together with `t` shares of
    /// their self-mask seed and `t` shares of their mask key: whose input it can compute.
    fn exposed(&self, corrupt: &BTreeSet<ClientId>) -> Vec<ClientId> {
        self.world
            .u3
            .difference(corrupt)
            .copied()
            .filter(|&v| {
                let (self_mask, key) = self.known_shares(v, corrupt);
                self_mask >= T && key >= T
            })
            .collect()
    }

    /// SECURITY: the server cannot compute any honest client's input.
    #[track_caller]
    fn assert_no_input_exposed(&self, corrupt: &BTreeSet<ClientId>) {
        let exposed = self.exposed(corrupt);
        assert!(exposed.is_empty(), "the server can unmask {exposed:?}");
    }

    /// No client revealed anything.
    #[track_caller]
    fn assert_nothing_revealed(&self) {
        assert!(
            self.responses.is_empty(),
            "{} responses",
            self.responses.len()
        );
        self.assert_no_input_exposed(&BTreeSet::new());
    }
}

/// `size` clients no two of which are neighbours (on the sparse graph no neighbourhood then
/// holds more than two of them); on the complete graph, the first `size`.
fn spread(graph: &Graph, members: &[ClientId], size: usize) -> Vec<ClientId> {
    fn pick(
        graph: &Graph,
        rest: &[ClientId],
        chosen: &mut Vec<ClientId>,
        size: usize,
        complete: bool,
    ) -> bool {
        if chosen.len() == size {
            return true;
        }
        for (i, &u) in rest.iter().enumerate() {
            if complete || chosen.iter().all(|&c| !graph.are_neighbours(c, u)) {
                chosen.push(u);
                if pick(graph, &rest[i + 1..], chosen, size, complete) {
                    return true;
                }
                chosen.pop();
            }
        }
        false
    }
    let complete = graph.kind() == secagg::Neighbourhood::Complete;
    let mut chosen = Vec::new();
    assert!(pick(graph, members, &mut chosen, size, complete));
    chosen
}

// ---------------------------------------------------------------------------------------
// The honest baseline, and the mode errors.
// ---------------------------------------------------------------------------------------

#[test]
fn honest_session_sums_and_reveals_one_secret_per_client() {
    for kind in KINDS {
        for late in [Round::Consistency, Round::Unmasking] {
            let graph = graph_for(kind, 1);
            let dropouts = spread(&graph, &ids(kind.n()), 2);
            let (dropped, quiet) = (dropouts[0], dropouts[1]);
            let report = Script::new(kind, 1)
                .silent(&[dropped], Round::MaskedInput)
                .silent(&[quiet], late)
                .run();
            assert!(report.refusals.is_empty());
            let included: Vec<ClientId> = ids(kind.n())
                .into_iter()
                .filter(|u| *u != dropped)
                .collect();
            let out = report.output.as_ref().unwrap().as_ref().unwrap();
            assert_eq!(out.included, included, "{kind:?}");
            assert_eq!(out.sum, sum_of(&included), "{kind:?}");
            report.assert_no_input_exposed(&BTreeSet::new());
            // The counting works: the dropped client's key was revealed by t or more of its
            // neighbours and its self-mask by none; every survivor's the other way round.
            let none = BTreeSet::new();
            let (self_mask, key) = report.known_shares(dropped, &none);
            assert_eq!(self_mask, 0);
            assert!(key >= T);
            for &v in &report.world.u3 {
                let (self_mask, key) = report.known_shares(v, &none);
                assert!(self_mask >= T && key == 0, "{kind:?} {v}");
            }
        }
    }
}

#[test]
fn rejects_skipping_consistency_in_malicious_mode() {
    for kind in KINDS {
        let mut refusals = BTreeMap::new();
        let mut masked = Script::new(kind, 2).run_to_masked(&mut refusals);
        // The honest-but-curious path on both sides: the server's close and the client's
        // unmasking without ConsistencyCheck.
        let srv = masked.server.take().unwrap();
        let wrong = Error::ApiMisuse(ApiMisuse::WrongThreatModel {
            session: ThreatModel::Malicious,
        });
        assert_eq!(refused(srv.close()), wrong);
        let u = id(1);
        let c = masked.clients.remove(&u).unwrap();
        let request = msg::UnmaskingRequest {
            session: SESSION,
            recipient: u,
            survivors: masked.world.holders(u).into_iter().collect(),
            dropped: Vec::new(),
            signatures: Vec::new(),
        };
        assert_eq!(refused(c.unmasking(&request)), wrong);
    }
}

#[test]
fn rejects_malicious_mode_client_without_identity() {
    let params = Kind::Complete.params(SESSION);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (_, _, roster, _) = advertise(Kind::Complete, SESSION, 3, &[]);
    // A client built without an identity cannot check signatures: it refuses to go on.
    let (c, _) = client::AdvertiseKeys::new(&params, id(1), &mut rng);
    assert_eq!(
        refused(c.share_keys(&roster, &mut rng)),
        Error::ApiMisuse(ApiMisuse::WrongThreatModel {
            session: ThreatModel::Malicious
        })
    );
}

/// An honest-but-curious session of five clients up to MaskedInputCollection, the clients
/// built with identities if `with_identity`; returns the server and client 1.
fn honest_but_curious(with_identity: bool) -> (server::MaskedInput, client::MaskedInput) {
    let params = Params::new(SESSION, 5, 3, modulus(), D).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut srv = server::AdvertiseKeys::new(&params);
    let mut clients = BTreeMap::new();
    for u in ids(5) {
        let (c, out) = if with_identity {
            let identity = client::Identity::new(identity_key(u), pki(5));
            client::AdvertiseKeys::with_identity(&params, u, identity, &mut rng)
        } else {
            client::AdvertiseKeys::new(&params, u, &mut rng)
        };
        srv.receive(u, out).unwrap();
        clients.insert(u, c);
    }
    let (mut srv, rosters) = srv.close().unwrap();
    let mut sharing = BTreeMap::new();
    for (u, c) in clients {
        let roster = session::roster_for(&rosters, u).unwrap();
        let (c, out) = c.share_keys(roster, &mut rng).unwrap();
        srv.receive(u, out).unwrap();
        sharing.insert(u, c);
    }
    let (mut srv, deliveries) = srv.close().unwrap();
    let mut masked = BTreeMap::new();
    for d in deliveries {
        let u = d.recipient;
        let c = sharing.remove(&u).unwrap();
        let (c, out) = c.masked_input(&d, &PlainInput::new(input_of(u))).unwrap();
        srv.receive(u, out).unwrap();
        masked.insert(u, c);
    }
    (srv, masked.remove(&id(1)).unwrap())
}

fn hbc_consistency_request() -> msg::ConsistencyRequest {
    msg::ConsistencyRequest {
        session: SESSION,
        recipient: id(1),
        survivors: ids(5),
        slice: None,
    }
}

const WRONG_HBC: Error = Error::ApiMisuse(ApiMisuse::WrongThreatModel {
    session: ThreatModel::HonestButCurious,
});

#[test]
fn honest_but_curious_session_has_no_consistency_round() {
    let (srv, c) = honest_but_curious(false);
    // The client has no identity to sign with.
    assert_eq!(
        refused(c.consistency(&hbc_consistency_request())),
        WRONG_HBC
    );
    assert_eq!(refused(srv.close_for_consistency()), WRONG_HBC);
}

/// BUG (src/protocol/client.rs, `MaskedInput::consistency`, line 760): its docs (and
/// the table of docs/PROTOCOL.md §12.2) promise `ApiMisuse::WrongThreatModel` "against an
/// honest-but-curious server", but the check is only that the client has an identity; a
/// client built `with_identity` in an honest-but-curious session signs the survivor set.
#[test]
fn rejects_consistency_in_honest_but_curious_session_even_with_identity() {
    let (_, c) = honest_but_curious(true);
    assert_eq!(
        refused(c.consistency(&hbc_consistency_request())),
        WRONG_HBC
    );
}

// ---------------------------------------------------------------------------------------
// (a) Keys the server made up: every roster entry must carry its owner's signature.
// ---------------------------------------------------------------------------------------

/// Every client gets the roster after `tamper`, which changes the entry of `target`, and must
/// refuse: `target` itself because its entry is not what it advertised, everyone else because
/// the entry's signature does not verify.
fn roster_attack(kind: Kind, seed: u64, target: ClientId, tamper: fn(&mut msg::AdvertiseKeys)) {
    let report = Script::new(kind, seed)
        .on_roster(|_, u, roster| {
            let entry = roster
                .entries
                .iter_mut()
                .find(|e| e.sender == target)
                .unwrap();
            tamper(entry);
            Some(by_server(
                Round::ShareKeys,
                if u == target {
                    Misbehavior::RosterWrongSelfKeys
                } else {
                    Misbehavior::BadSignature { peer: target }
                },
            ))
        })
        .run();
    assert_eq!(report.refusals.len(), usize::try_from(kind.n()).unwrap());
    report.assert_nothing_revealed();
}

/// Keys of a key pair the server holds (those of a client of an unrelated session).
fn made_up_keys(seed: u64) -> msg::AdvertiseKeys {
    let params = Kind::Complete.params(SESSION);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    client::AdvertiseKeys::new(&params, id(99), &mut rng).1
}

#[test]
fn rejects_roster_with_substituted_share_key() {
    for kind in KINDS {
        roster_attack(kind, 10, id(2), |e| {
            e.share_public_key = made_up_keys(1).share_public_key;
        });
    }
}

#[test]
fn rejects_roster_with_substituted_mask_key() {
    for kind in KINDS {
        roster_attack(kind, 11, id(4), |e| {
            e.mask_public_key = made_up_keys(2).mask_public_key;
        });
    }
}

#[test]
fn rejects_roster_with_substituted_commitment() {
    for kind in KINDS {
        roster_attack(kind, 12, id(3), |e| {
            e.self_mask_commitment = made_up_keys(3).self_mask_commitment;
        });
    }
}

#[test]
fn rejects_roster_entry_without_signature() {
    for kind in KINDS {
        roster_attack(kind, 13, id(5), |e| e.signature = None);
    }
}

#[test]
fn rejects_roster_entry_with_forged_signature_bytes() {
    for kind in KINDS {
        roster_attack(kind, 14, id(1), |e| {
            let mut sig = e.signature.unwrap();
            sig.0[9] ^= 0x20;
            e.signature = Some(sig);
        });
        roster_attack(kind, 15, id(6), |e| e.signature = Some(Signature([0; 64])));
    }
}

#[test]
fn rejects_roster_entry_re_signed_by_the_server() {
    // Made-up keys under a valid signature, by a key that is not the owner's.
    for kind in KINDS {
        roster_attack(kind, 16, id(2), |e| {
            let fake = made_up_keys(4);
            e.share_public_key = fake.share_public_key;
            e.mask_public_key = fake.mask_public_key;
            e.signature = Some(server_identity().sign_advertisement(e));
        });
    }
}

#[test]
fn rejects_roster_entry_signed_by_another_client() {
    // The server colludes with client 3 (or stole its key): 3 signs made-up keys for 2.
    for kind in KINDS {
        roster_attack(kind, 17, id(2), |e| {
            e.share_public_key = made_up_keys(5).share_public_key;
            e.signature = Some(identity_key(id(3)).sign_advertisement(e));
        });
    }
}

#[test]
fn rejects_made_up_entry_for_a_client_that_never_advertised() {
    // Client 2 never advertised; the server makes up its keys to receive shares in its name.
    // It cannot sign for 2, nor for a client the PKI does not know.
    for kind in KINDS {
        for (fake_id, seed) in [(id(2), 20), (id(99), 21)] {
            let report = Script::new(kind, seed)
                .silent(&[id(2)], Round::AdvertiseKeys)
                .on_roster(|_, _, roster| {
                    let mut fake = made_up_keys(6);
                    fake.session = SESSION;
                    fake.sender = fake_id;
                    fake.signature = Some(server_identity().sign_advertisement(&fake));
                    roster.entries.push(fake);
                    Some(by_server(
                        Round::ShareKeys,
                        Misbehavior::BadSignature { peer: fake_id },
                    ))
                })
                .run();
            assert_eq!(
                report.refusals.len(),
                usize::try_from(kind.n()).unwrap() - 1
            );
            report.assert_nothing_revealed();
        }
    }
}

#[test]
fn server_with_pki_rejects_forged_advertisement() {
    let params = Kind::Complete.params(SESSION);
    let pki = pki(7);
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let mut srv = server::AdvertiseKeys::with_pki(&params, pki.clone());
    for u in ids(7) {
        let identity = client::Identity::new(identity_key(u), pki.clone());
        let (_, honest) = client::AdvertiseKeys::with_identity(&params, u, identity, &mut rng);
        let bad = |what: fn(&mut msg::AdvertiseKeys)| {
            let mut m = honest.clone();
            what(&mut m);
            m
        };
        let forged = [
            bad(|m| m.share_public_key = made_up_keys(7).share_public_key),
            bad(|m| m.signature = None),
            bad(|m| m.signature = Some(identity_key(id(m.sender.0 % 7 + 1)).sign_advertisement(m))),
        ];
        for m in forged {
            assert_eq!(
                srv.receive(u, m),
                Err(Rejected::new(
                    u,
                    Round::AdvertiseKeys,
                    Misbehavior::BadSignature { peer: u }
                ))
            );
        }
        srv.receive(u, honest).unwrap();
    }
    let (_, rosters) = srv.close().unwrap();
    assert_eq!(rosters.len(), 1);
    assert_eq!(rosters[0].entries.len(), 7);
}

#[test]
fn clients_catch_forged_advertisement_that_a_server_without_pki_accepted() {
    // Without a PKI the server checks only that a signature is present; the clients still
    // verify every entry.
    let params = Kind::Complete.params(SESSION);
    let pki = pki(7);
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let mut srv = server::AdvertiseKeys::new(&params);
    let mut clients = BTreeMap::new();
    for u in ids(7) {
        let identity = client::Identity::new(identity_key(u), pki.clone());
        let (c, mut out) = client::AdvertiseKeys::with_identity(&params, u, identity, &mut rng);
        let mut unsigned = out.clone();
        unsigned.signature = None;
        assert_eq!(
            srv.receive(u, unsigned),
            Err(Rejected::new(
                u,
                Round::AdvertiseKeys,
                Misbehavior::BadSignature { peer: u }
            ))
        );
        if u == id(4) {
            out.mask_public_key = made_up_keys(8).mask_public_key;
        }
        srv.receive(u, out).unwrap();
        clients.insert(u, c);
    }
    let (_, rosters) = srv.close().unwrap();
    let roster = &rosters[0];
    for (u, c) in clients {
        let want = if u == id(4) {
            Misbehavior::RosterWrongSelfKeys
        } else {
            Misbehavior::BadSignature { peer: id(4) }
        };
        assert_eq!(
            refused(c.share_keys(roster, &mut rng)),
            by_server(Round::ShareKeys, want)
        );
    }
}

// ---------------------------------------------------------------------------------------
// (b) Different survivor sets for different clients.
// ---------------------------------------------------------------------------------------

/// The clients in `group_b` are shown `U_3` without `victim` in ConsistencyCheck, the others
/// `U_3`. In Unmasking the server forwards to each client every signature of its
/// neighbourhood, whichever set it is over.
#[test]
fn rejects_signatures_over_another_survivor_set() {
    for kind in KINDS {
        let victim = id(1);
        let group_b: BTreeSet<ClientId> = ids(kind.n()).into_iter().filter(|u| u.0 > 3).collect();
        let report = Script::new(kind, 30)
            .on_consistency(|_, u, request| {
                if group_b.contains(&u) {
                    request.survivors.retain(|v| *v != victim);
                }
                None
            })
            .on_unmasking(|w, u, request| {
                let h = w.holders(u);
                request.signatures = w
                    .signed
                    .iter()
                    .filter(|(s, _)| h.contains(s))
                    .map(|(s, (_, sig))| (*s, *sig))
                    .collect();
                // The first signature (by ascending signer) over the other set.
                let mine = &w.signed[&u].0;
                let first_other = request
                    .signatures
                    .iter()
                    .map(|(s, _)| *s)
                    .find(|s| w.signed[s].0 != *mine)?;
                Some(by_server(
                    Round::Unmasking,
                    Misbehavior::BadSignature { peer: first_other },
                ))
            })
            .run();
        // On the complete graph every client holds signatures over both sets.
        if kind == Kind::Complete {
            assert_eq!(report.refusals.len(), 7);
        }
        report.assert_no_input_exposed(&BTreeSet::new());
        let (_, key) = report.known_shares(victim, &BTreeSet::new());
        assert_eq!(key, 0);
    }
}

/// As above, but the server forwards only the signatures over each client's own set: then
/// neither group holds `t` of them.
#[test]
fn rejects_too_few_signatures_over_its_own_set() {
    let victim = id(1);
    let group_b: BTreeSet<ClientId> = ids(7).into_iter().filter(|u| u.0 > 3).collect();
    let report = Script::new(Kind::Complete, 31)
        .on_consistency(|_, u, request| {
            if group_b.contains(&u) {
                request.survivors.retain(|v| *v != victim);
            }
            None
        })
        .on_unmasking(|_, u, request| {
            let have = if group_b.contains(&u) { 4 } else { 3 };
            assert_eq!(request.signatures.len(), have);
            Some(by_server(
                Round::Unmasking,
                Misbehavior::TooFewSignatures { have, need: T },
            ))
        })
        .run();
    assert_eq!(report.refusals.len(), 7);
    report.assert_nothing_revealed();
}

/// The ConsistencyCheck request itself: a client signs only a set it can vouch for.
#[test]
fn rejects_malformed_consistency_request() {
    type Tamper = fn(ClientId, &mut msg::ConsistencyRequest) -> Option<Error>;
    fn at(what: Misbehavior) -> Option<Error> {
        Some(by_server(Round::Consistency, what))
    }
    for kind in KINDS {
        let cases: [(u64, Tamper); 5] = [
            (100, |u, r| {
                r.recipient = ClientId(u.0 % 7 + 1);
                at(Misbehavior::WrongRecipient)
            }),
            (101, |_, r| {
                let again = r.survivors[2];
                r.survivors.push(again);
                at(Misbehavior::RepeatedId { peer: again })
            }),
            (102, |_, r| {
                r.survivors.push(id(99));
                at(Misbehavior::UnknownPeer { peer: id(99) })
            }),
            (103, |u, r| {
                r.survivors.retain(|v| *v != u);
                at(Misbehavior::SelfNotSurvivor)
            }),
            (104, |u, r| {
                // Only three neighbours besides the client: fewer than t of its neighbourhood.
                r.survivors.retain(|v| *v == u);
                r.survivors
                    .extend(ids(12).into_iter().filter(|v| *v != u).take(3));
                None
            }),
        ];
        for (seed, tamper) in cases {
            let report = Script::new(kind, seed)
                .on_consistency(|w, u, request| {
                    let expected = tamper(u, request);
                    if seed != 104 {
                        return expected;
                    }
                    // The neighbours among the three, and the client itself.
                    let have = request
                        .survivors
                        .iter()
                        .filter(|v| w.holders(u).contains(v))
                        .count();
                    (have < T).then_some(Error::Abort(AbortReason::TooFewSurvivors {
                        round: Round::Consistency,
                        have,
                        need: T,
                    }))
                })
                .run();
            report.assert_nothing_revealed();
        }
        // A neighbour that sent no shares, listed as a survivor. (On the sparse graph the
        // other clients cannot tell; they sign, and the neighbourhoods that lost the refusing
        // clients' signatures then refuse to reveal.)
        let silent = id(2);
        let report = Script::new(kind, 105)
            .silent(&[silent], Round::ShareKeys)
            .lenient()
            .on_consistency(|w, u, request| {
                request.survivors.insert(1, silent);
                w.neighbours(u).contains(&silent).then_some(by_server(
                    Round::Consistency,
                    Misbehavior::PeerReappeared { peer: silent },
                ))
            })
            .run();
        report.assert_no_input_exposed(&BTreeSet::new());
    }
}

// ---------------------------------------------------------------------------------------
// (d) Both shares of one client, by any route.
// ---------------------------------------------------------------------------------------

/// Every neighbour of the victim (all of them signed `U_3`, the victim included) is asked for
/// the victim's key share: as a second listing next to its survivor listing, or instead of
/// it. Both contradict the signed set. Everyone else is asked honestly and reveals the
/// victim's self-mask share, which alone gives nothing away.
#[test]
fn rejects_request_contradicting_the_signed_set_for_the_victim() {
    for kind in KINDS {
        for (seed, keep_survivor) in [(40, true), (41, false)] {
            let victim = id(2);
            let report = Script::new(kind, seed)
                .on_unmasking(|w, u, request| {
                    if !w.neighbours(victim).contains(&u) {
                        return None;
                    }
                    if !keep_survivor {
                        request.survivors.retain(|v| *v != victim);
                    }
                    request.dropped.push(victim);
                    Some(by_server(
                        Round::Unmasking,
                        Misbehavior::InconsistentSurvivors { peer: victim },
                    ))
                })
                .run();
            let none = BTreeSet::new();
            report.assert_no_input_exposed(&none);
            // Only the victim itself answered among its share holders.
            assert_eq!(report.known_shares(victim, &none), (1, 0));
        }
    }
}

#[test]
fn rejects_request_reviving_a_client_outside_the_signed_set() {
    // The victim sent no masked input, so U_3 (which everyone signed) lacks it; a request
    // that lists it as a survivor asks for its self-mask share next to the key share.
    for kind in KINDS {
        let victim = id(3);
        let report = Script::new(kind, 42)
            .silent(&[victim], Round::MaskedInput)
            .on_unmasking(|w, u, request| {
                if !w.neighbours(victim).contains(&u) {
                    return None;
                }
                request.survivors.push(victim);
                Some(by_server(
                    Round::Unmasking,
                    Misbehavior::InconsistentSurvivors { peer: victim },
                ))
            })
            .run();
        report.assert_no_input_exposed(&BTreeSet::new());
        assert_eq!(report.known_shares(victim, &BTreeSet::new()), (0, 0));
    }
}

#[test]
fn rejects_request_omitting_a_live_neighbour() {
    for kind in KINDS {
        let report = Script::new(kind, 43)
            .on_unmasking(|w, u, request| {
                let omitted = *w.neighbours(u).iter().next().unwrap();
                request.survivors.retain(|v| *v != omitted);
                Some(by_server(
                    Round::Unmasking,
                    Misbehavior::InconsistentSurvivors { peer: omitted },
                ))
            })
            .run();
        report.assert_nothing_revealed();
    }
}

/// One split-view attack on `victim`: the clients in `shown_a` are shown `U_3` (all), the
/// other honest clients `U_3 \ {victim}`. The clients in `corrupt` collude with the server:
/// they sign both sets, hold shares of the victim that the server knows, and answer nothing.
/// Each honest client gets every signature over the set it signed from its neighbourhood
/// (the corrupt ones' included): the most the server can give it. It must reveal exactly
/// when that makes `t`, and refuse with `TooFewSignatures` otherwise.
fn split_view(
    kind: Kind,
    seed: u64,
    victim: ClientId,
    corrupt: &BTreeSet<ClientId>,
    shown_a: &BTreeSet<ClientId>,
) -> Report {
    let all: Vec<ClientId> = ids(kind.n());
    let without: Vec<ClientId> = all.iter().copied().filter(|u| *u != victim).collect();
    let set_of = |u: &ClientId| {
        if shown_a.contains(u) { &all } else { &without }
    };
    let corrupt_list: Vec<ClientId> = corrupt.iter().copied().collect();
    let report = Script::new(kind, seed)
        .silent(&corrupt_list, Round::Unmasking)
        .on_consistency(|_, u, request| {
            request.survivors.clone_from(set_of(&u));
            None
        })
        .on_unmasking(|w, u, request| {
            let h = w.holders(u);
            let mine = set_of(&u);
            let mut signatures: Vec<(ClientId, Signature)> = w
                .signed
                .iter()
                .filter(|(s, (theirs, _))| h.contains(s) && !corrupt.contains(s) && theirs == mine)
                .map(|(s, (_, sig))| (*s, *sig))
                .collect();
            for &c in corrupt.intersection(&h) {
                let digest = w.survivor_digest(mine);
                signatures.push((c, identity_key(c).sign_survivors(&SESSION, &digest)));
            }
            signatures.sort_by_key(|(s, _)| *s);
            request.signatures = signatures;
            let have = request.signatures.len();
            (have < T).then_some(by_server(
                Round::Unmasking,
                Misbehavior::TooFewSignatures { have, need: T },
            ))
        })
        .run();
    assert!(shown_a.contains(&victim));
    report
}

/// Every split of the victim's honest share holders into the two views, with the largest
/// coalition the threat model allows (`t > 2 (k + 1) / 3`: two corrupt holders of seven). On
/// the sparse graph the clients outside the victim's neighbourhood (who add signatures for its
/// neighbours) are shown one view or the other.
#[test]
fn split_views_never_yield_both_shares_of_the_victim() {
    for kind in KINDS {
        let seed = 44;
        let graph = graph_for(kind, seed);
        let victim = id(1);
        let h = holders_in(&graph, victim);
        let corrupt: BTreeSet<ClientId> = h.iter().rev().take(2).copied().collect();
        let honest: Vec<ClientId> = h
            .iter()
            .copied()
            .filter(|u| *u != victim && !corrupt.contains(u))
            .collect();
        let outside: Vec<ClientId> = ids(kind.n())
            .into_iter()
            .filter(|u| !h.contains(u))
            .collect();
        let outside_views: &[bool] = if outside.is_empty() {
            &[true]
        } else {
            &[true, false]
        };
        let mut most = (0, 0);
        for bits in 0u32..(1 << honest.len()) {
            for &outside_a in outside_views {
                let mut shown_a: BTreeSet<ClientId> = honest
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, u)| *u)
                    .collect();
                shown_a.insert(victim);
                if outside_a {
                    shown_a.extend(&outside);
                }
                let report = split_view(kind, seed, victim, &corrupt, &shown_a);
                report.assert_no_input_exposed(&corrupt);
                let (self_mask, key) = report.known_shares(victim, &corrupt);
                most = (most.0.max(self_mask), most.1.max(key));
            }
        }
        // Some splits do hand the server t shares of one kind: it is the pair that never
        // comes together.
        assert!(most.0 >= T && most.1 >= T, "{kind:?}: {most:?}");
    }
}

/// The counting above is not vacuous: with three corrupt holders of seven (beyond the
/// bound) some split does give the server t shares of both kinds.
#[test]
fn split_views_expose_the_victim_once_corruption_exceeds_the_bound() {
    let kind = Kind::Complete;
    let victim = id(1);
    let corrupt: BTreeSet<ClientId> = [id(5), id(6), id(7)].into();
    // Shown U_3: the victim and client 2; shown U_3 \ {victim}: clients 3 and 4.
    let shown_a: BTreeSet<ClientId> = [victim, id(2)].into();
    let report = split_view(kind, 45, victim, &corrupt, &shown_a);
    assert!(report.refusals.is_empty());
    assert_eq!(report.known_shares(victim, &corrupt), (T, T));
    assert_eq!(report.exposed(&corrupt), [victim]);
}

// ---------------------------------------------------------------------------------------
// (c) Messages of another session.
// ---------------------------------------------------------------------------------------

/// An honest session with the same clients and identities under `OTHER_SESSION`.
fn other_session(kind: Kind, seed: u64) -> Report {
    let report = Script::new(kind, seed).session(OTHER_SESSION).run();
    assert!(report.output.as_ref().unwrap().is_ok());
    report
}

#[test]
fn rejects_roster_of_another_session() {
    for kind in KINDS {
        let other = other_session(kind, 50);
        let report = Script::new(kind, 51)
            .on_roster(|_, _, roster| {
                roster.clone_from(&other.world.roster);
                Some(by_server(Round::ShareKeys, Misbehavior::WrongSession))
            })
            .run();
        report.assert_nothing_revealed();
        // Relabelled into this session, its entries' signatures no longer verify (the first
        // entry is client 1's, which client 1 sees is not its own).
        let report = Script::new(kind, 52)
            .on_roster(|_, u, roster| {
                roster.clone_from(&other.world.roster);
                roster.session = SESSION;
                for e in &mut roster.entries {
                    e.session = SESSION;
                }
                Some(by_server(
                    Round::ShareKeys,
                    if u == id(1) {
                        Misbehavior::RosterWrongSelfKeys
                    } else {
                        Misbehavior::BadSignature { peer: id(1) }
                    },
                ))
            })
            .run();
        report.assert_nothing_revealed();
    }
}

#[test]
fn rejects_delivery_of_another_session() {
    for kind in KINDS {
        let other = other_session(kind, 53);
        let report = Script::new(kind, 54)
            .on_delivery(|_, u, delivery| {
                *delivery = other.world.delivery_for(u);
                Some(by_server(Round::MaskedInput, Misbehavior::WrongSession))
            })
            .run();
        report.assert_nothing_revealed();
        // Relabelled: the ciphertexts are bound to the other session (and on the sparse graph
        // may come from clients that are not neighbours here).
        let report = Script::new(kind, 55)
            .on_delivery(|w, u, delivery| {
                *delivery = other.world.delivery_for(u);
                delivery.session = SESSION;
                let first = delivery.sealed[0].sender;
                Some(if w.neighbours(u).contains(&first) {
                    Error::Misbehaved {
                        by: Party::Client(first),
                        round: Round::MaskedInput,
                        what: Misbehavior::UndecryptableShare { peer: first },
                    }
                } else {
                    by_server(Round::MaskedInput, Misbehavior::UnknownPeer { peer: first })
                })
            })
            .run();
        report.assert_nothing_revealed();
    }
}

#[test]
fn rejects_consistency_request_of_another_session() {
    for kind in KINDS {
        let report = Script::new(kind, 56)
            .on_consistency(|_, _, request| {
                request.session = OTHER_SESSION;
                Some(by_server(Round::Consistency, Misbehavior::WrongSession))
            })
            .run();
        report.assert_nothing_revealed();
    }
}

#[test]
fn rejects_unmasking_request_of_another_session() {
    for kind in KINDS {
        let other = other_session(kind, 57);
        let report = Script::new(kind, 58)
            .on_unmasking(|_, u, request| {
                *request = other.world.request_for(u);
                Some(by_server(Round::Unmasking, Misbehavior::WrongSession))
            })
            .run();
        report.assert_nothing_revealed();
        // Relabelled: its signatures are over the other session.
        let report = Script::new(kind, 59)
            .on_unmasking(|w, u, request| {
                *request = other.world.request_for(u);
                request.session = SESSION;
                let first = request.signatures[0].0;
                Some(by_server(
                    Round::Unmasking,
                    if w.holders(u).contains(&first) {
                        Misbehavior::BadSignature { peer: first }
                    } else {
                        Misbehavior::UnknownPeer { peer: first }
                    },
                ))
            })
            .run();
        report.assert_nothing_revealed();
    }
}

#[test]
fn rejects_consistency_signatures_of_another_session() {
    // The same signers over the same set, but in the other session.
    for kind in KINDS {
        let other = other_session(kind, 60);
        let report = Script::new(kind, 61)
            .on_unmasking(|_, _, request| {
                for (signer, sig) in &mut request.signatures {
                    *sig = other.world.signature_of(*signer);
                }
                Some(by_server(
                    Round::Unmasking,
                    Misbehavior::BadSignature {
                        peer: request.signatures[0].0,
                    },
                ))
            })
            .run();
        report.assert_nothing_revealed();
    }
}

// ---------------------------------------------------------------------------------------
// (e) Tampered ciphertexts.
// ---------------------------------------------------------------------------------------

#[test]
fn rejects_tampered_share_ciphertext() {
    let from_peer = |peer| Error::Misbehaved {
        by: Party::Client(peer),
        round: Round::MaskedInput,
        what: Misbehavior::UndecryptableShare { peer },
    };
    for kind in KINDS {
        // A flipped bit.
        let report = Script::new(kind, 70)
            .on_delivery(|_, _, delivery| {
                let s = &mut delivery.sealed[0];
                s.ciphertext[17] ^= 0x01;
                Some(from_peer(s.sender))
            })
            .run();
        report.assert_nothing_revealed();
        // Another neighbour's ciphertext relabelled to come from the first sender.
        let report = Script::new(kind, 71)
            .on_delivery(|_, _, delivery| {
                let first = delivery.sealed[0].sender;
                delivery.sealed[0].ciphertext = delivery.sealed[1].ciphertext;
                Some(from_peer(first))
            })
            .run();
        report.assert_nothing_revealed();
        // A ciphertext sealed to another client, readdressed: it is bound to its recipient.
        let report = Script::new(kind, 72)
            .on_delivery(|w, u, delivery| {
                let s = delivery.sealed[0].sender;
                let other = *w.neighbours(s).iter().find(|v| **v != u).unwrap();
                let mut sealed = w.sealed(s, other);
                sealed.recipient = u;
                delivery.sealed[0] = sealed;
                Some(from_peer(s))
            })
            .run();
        report.assert_nothing_revealed();
        // ... or left addressed to the other client.
        let report = Script::new(kind, 73)
            .on_delivery(|w, u, delivery| {
                let s = delivery.sealed[0].sender;
                let other = *w.neighbours(s).iter().find(|v| **v != u).unwrap();
                delivery.sealed[0] = w.sealed(s, other);
                Some(by_server(Round::MaskedInput, Misbehavior::WrongRecipient))
            })
            .run();
        report.assert_nothing_revealed();
    }
}

// ---------------------------------------------------------------------------------------
// (f) Forged, dropped, repeated and reused consistency signatures.
// ---------------------------------------------------------------------------------------

fn signature_attack(
    seed: u64,
    tamper: impl Fn(&World, ClientId, &mut msg::UnmaskingRequest) -> Misbehavior,
) {
    for kind in KINDS {
        let report = Script::new(kind, seed)
            .on_unmasking(|w, u, request| Some(by_server(Round::Unmasking, tamper(w, u, request))))
            .run();
        report.assert_nothing_revealed();
    }
}

#[test]
fn rejects_forged_consistency_signature() {
    signature_attack(80, |_, _, request| {
        let (signer, sig) = &mut request.signatures[2];
        sig.0[40] ^= 0x04;
        Misbehavior::BadSignature { peer: *signer }
    });
    signature_attack(81, |_, _, request| {
        request.signatures[0].1 = Signature([0x55; 64]);
        Misbehavior::BadSignature {
            peer: request.signatures[0].0,
        }
    });
}

#[test]
fn rejects_consistency_signature_attributed_to_another_signer() {
    signature_attack(82, |_, _, request| {
        let second = request.signatures[1].1;
        request.signatures[0].1 = second;
        Misbehavior::BadSignature {
            peer: request.signatures[0].0,
        }
    });
}

#[test]
fn rejects_too_few_consistency_signatures() {
    signature_attack(83, |_, _, request| {
        request.signatures.truncate(T - 1);
        Misbehavior::TooFewSignatures {
            have: T - 1,
            need: T,
        }
    });
    signature_attack(84, |_, _, request| {
        request.signatures.clear();
        Misbehavior::TooFewSignatures { have: 0, need: T }
    });
}

#[test]
fn rejects_repeated_consistency_signer() {
    // Padding t - 1 signatures up to t with a copy of one of them.
    signature_attack(85, |_, _, request| {
        request.signatures.truncate(T - 1);
        let first = request.signatures[0];
        request.signatures.push(first);
        Misbehavior::RepeatedId { peer: first.0 }
    });
}

#[test]
fn rejects_consistency_signature_from_outside_the_neighbourhood() {
    // A signer outside the roster, on both graphs.
    signature_attack(86, |_, _, request| {
        let sig = request.signatures[0].1;
        request.signatures.insert(0, (id(99), sig));
        Misbehavior::UnknownPeer { peer: id(99) }
    });
    // On the sparse graph, a roster member that is not a neighbour, with its valid signature
    // over the very set.
    let report = Script::new(Kind::Sparse, 87)
        .on_unmasking(|w, u, request| {
            let outsider = w.non_neighbour(u);
            request
                .signatures
                .insert(0, (outsider, w.signature_of(outsider)));
            Some(by_server(
                Round::Unmasking,
                Misbehavior::UnknownPeer { peer: outsider },
            ))
        })
        .run();
    report.assert_nothing_revealed();
}

#[test]
fn server_rejects_consistency_signature_that_does_not_verify() {
    for kind in KINDS {
        let mut refusals = BTreeMap::new();
        let masked = Script::new(kind, 88).run_to_masked(&mut refusals);
        let (mut srv, requests) = masked.server.unwrap().close_for_consistency().unwrap();
        let mut checking = BTreeMap::new();
        for (request, (u, c)) in requests.iter().zip(masked.clients) {
            assert_eq!(request.recipient, u);
            let (c, out) = c.consistency(request).unwrap();
            let rejected = Err(Rejected::new(
                u,
                Round::Consistency,
                Misbehavior::BadSignature { peer: u },
            ));
            let key = identity_key(u);
            let fake = |signature| msg::ConsistencySignature {
                signature,
                ..out.clone()
            };
            // Over another set, in another session, by another key.
            let all = ids(kind.n());
            let digest_of = |set: &[ClientId]| {
                survivor_digest_of(&all, &set.iter().copied().collect()).unwrap()
            };
            let (signed, fewer) = (digest_of(&all), digest_of(&all[1..]));
            for signature in [
                key.sign_survivors(&SESSION, &fewer),
                key.sign_survivors(&OTHER_SESSION, &signed),
                server_identity().sign_survivors(&SESSION, &signed),
            ] {
                assert_eq!(srv.receive(u, fake(signature)), rejected);
            }
            srv.receive(u, out).unwrap();
            checking.insert(u, c);
        }
        let (mut srv, requests) = srv.close().unwrap();
        for request in requests {
            let u = request.recipient;
            let c = checking.remove(&u).unwrap();
            let (_, response) = c.unmasking(&request).unwrap();
            srv.receive(u, response).unwrap();
        }
        let out = srv.finish().unwrap();
        assert_eq!(out.sum, sum_of(&ids(kind.n())));
    }
}

// ---------------------------------------------------------------------------------------
// (g) Neighbourhoods that do not match the graph each client derives from the roster.
// ---------------------------------------------------------------------------------------

/// The graph of a server that shuffled the ring with another seed than the roster digest.
fn other_graph(w: &World) -> Graph {
    Graph::new(
        w.params.neighbourhood(),
        w.params.session(),
        &[0x77; 32],
        &w.members(),
    )
}

#[test]
fn rejects_share_from_a_non_neighbour() {
    // A ciphertext of a client outside the neighbourhood, readdressed.
    let report = Script::new(Kind::Sparse, 90)
        .on_delivery(|w, u, delivery| {
            let outsider = w.non_neighbour(u);
            let mut sealed = w.sent[&outsider].sealed[0].clone();
            sealed.recipient = u;
            delivery.sealed.push(sealed);
            Some(by_server(
                Round::MaskedInput,
                Misbehavior::UnknownPeer { peer: outsider },
            ))
        })
        .run();
    report.assert_nothing_revealed();
}

#[test]
fn rejects_deliveries_routed_by_another_graph() {
    // The server delivers to each client the shares of its neighbours in the server's own
    // graph: the genuine ciphertext where the two graphs agree, a readdressed one where they
    // do not. The first sender that is no neighbour in the client's graph is refused.
    let mut refused_some = false;
    let report = Script::new(Kind::Sparse, 91)
        .lenient()
        .on_delivery(|w, u, delivery| {
            let fake = other_graph(w);
            let mine = w.neighbours(u);
            delivery.sealed = fake
                .neighbours(u)
                .into_iter()
                .map(|s| {
                    if mine.contains(&s) {
                        w.sealed(s, u)
                    } else {
                        let mut sealed = w.sent[&s].sealed[0].clone();
                        sealed.recipient = u;
                        sealed
                    }
                })
                .collect();
            let first = fake.neighbours(u).into_iter().find(|s| !mine.contains(s))?;
            refused_some = true;
            Some(by_server(
                Round::MaskedInput,
                Misbehavior::UnknownPeer { peer: first },
            ))
        })
        .run();
    assert!(refused_some);
    report.assert_no_input_exposed(&BTreeSet::new());
}

#[test]
fn rejects_unmasking_request_for_another_graph() {
    // Everyone signed U_3; the server builds each request from its own graph's neighbourhood,
    // signatures included.
    let mut refused_some = false;
    let report = Script::new(Kind::Sparse, 92)
        .on_unmasking(|w, u, request| {
            let fake = holders_in(&other_graph(w), u);
            request.survivors = fake.iter().copied().collect();
            request.signatures = fake.iter().map(|s| (*s, w.signature_of(*s))).collect();
            let mine = w.holders(u);
            let first = fake.iter().copied().find(|s| !mine.contains(s))?;
            refused_some = true;
            Some(by_server(
                Round::Unmasking,
                Misbehavior::UnknownPeer { peer: first },
            ))
        })
        .run();
    assert!(refused_some);
    report.assert_no_input_exposed(&BTreeSet::new());
}

#[test]
fn rejects_unmasking_request_naming_a_non_neighbour() {
    // With the honest signatures, the server adds a client outside the neighbourhood: as a
    // survivor (it signed U_3), or as dropped (one that sent no masked input).
    let dropped = id(12);
    let report = Script::new(Kind::Sparse, 93)
        .silent(&[dropped], Round::MaskedInput)
        .on_unmasking(|w, u, request| {
            let outsider = w.non_neighbour(u);
            if w.u3.contains(&outsider) {
                request.survivors.push(outsider);
            } else {
                request.dropped.push(outsider);
            }
            Some(by_server(
                Round::Unmasking,
                Misbehavior::UnknownPeer { peer: outsider },
            ))
        })
        .run();
    assert_eq!(report.refusals.len(), 11);
    report.assert_nothing_revealed();
}

/// The server sends some clients the full roster and the others the roster without one
/// (signed) entry, so the two groups derive different graphs; it relays every ciphertext and
/// roster signature to its recipient. A client refuses the first share from a sender that is
/// no neighbour in its own graph, then the first roster signature of a neighbour from the
/// other group (it signed the other roster), and otherwise counts its live neighbours.
#[test]
fn rejects_shares_after_a_split_roster() {
    // Which clients meet a sender of the other group depends on the random graphs: over a
    // few seeds both refusals occur.
    let mut unknown = 0;
    let mut other_roster = 0;
    for seed in 94..100 {
        let omitted = id(12);
        let group_y: BTreeSet<ClientId> = ids(5).into_iter().collect();
        let graphs: RefCell<BTreeMap<ClientId, Graph>> = RefCell::default();
        let report = Script::new(Kind::Sparse, seed)
            .lenient()
            .on_roster(|w, u, roster| {
                if group_y.contains(&u) {
                    roster.entries.retain(|e| e.sender != omitted);
                }
                graphs
                    .borrow_mut()
                    .insert(u, graph_of(&w.params, &roster.entries));
                None
            })
            .on_delivery(|_, u, delivery| {
                let mine = graphs.borrow()[&u].neighbours(u);
                if let Some(s) = delivery.sealed.iter().find(|s| !mine.contains(&s.sender)) {
                    unknown += 1;
                    return Some(by_server(
                        Round::MaskedInput,
                        Misbehavior::UnknownPeer { peer: s.sender },
                    ));
                }
                let in_y = |v: &ClientId| group_y.contains(v);
                if let Some((v, _)) = delivery
                    .roster_signatures
                    .iter()
                    .find(|(v, _)| in_y(v) != in_y(&u))
                {
                    other_roster += 1;
                    return Some(by_server(
                        Round::MaskedInput,
                        Misbehavior::BadSignature { peer: *v },
                    ));
                }
                let alive = 1 + delivery.sealed.len();
                (alive < T).then_some(Error::Abort(AbortReason::TooFewSurvivors {
                    round: Round::MaskedInput,
                    have: alive,
                    need: T,
                }))
            })
            .run();
        // The two rosters gave different graphs.
        let graphs = graphs.into_inner();
        assert_ne!(graphs[&id(1)], graphs[&id(6)]);
        report.assert_no_input_exposed(&BTreeSet::new());
    }
    assert!(unknown > 0);
    assert!(other_roster > 0);
}
