//! A scripted malicious server (and a few malicious clients) against honest parties.
//!
//! Honest clients run on `secagg::harness`, round by round. The server's messages come from the honest
//! server and are then tampered with by hand. Each `rejects_*` client test checks the exact
//! typed error, and checks that the client produced no message: the call returned `Err`, so
//! the client revealed nothing. The `server_rejects_*` tests send the server a bad message
//! before the honest one. The server must refuse the bad message without changing any
//! state, so the session still finishes with the right sum.

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::harness::{Fate, Harness, copy_response, refused};
use secagg::hazmat::shamir::SecretScalar;
use secagg::protocol::session::{ClientSession, ServerSession};
use secagg::protocol::{client, messages as msg, server};
use secagg::wire::{ClientMessage, ServerMessage};
use secagg::{
    AbortReason, ClientId, Error, Misbehavior, Modulus, Output, Params, Party, PlainInput,
    PublicKey, Rejected, Round, SessionId,
};

const N: usize = 5;
const T: usize = 3;
const D: usize = 16;
const SESSION: SessionId = SessionId([0x5a; 32]);
const OTHER_SESSION: SessionId = SessionId([0xa5; 32]);

fn id(i: u32) -> ClientId {
    ClientId(i)
}

fn ids(list: &[u32]) -> Vec<ClientId> {
    list.iter().copied().map(ClientId).collect()
}

fn all_ids() -> Vec<ClientId> {
    ids(&[1, 2, 3, 4, 5])
}

fn params_with(m: Modulus) -> Params {
    Params::new(SESSION, N, T, m, D).unwrap()
}

fn params() -> Params {
    params_with(Modulus::power_of_two(32).unwrap())
}

/// Client `id`'s input: distinct per client and per position.
fn input_of(id: ClientId, m: Modulus) -> Vec<u64> {
    (0..D)
        .map(|i| {
            let x = u128::from(id.0) * 1_000_003 + u128::try_from(i).unwrap() * 7_919 + 11;
            u64::try_from(x % m.value()).unwrap()
        })
        .collect()
}

/// The plain sum of the inputs of `included`, in `u128` arithmetic.
fn sum_of(included: &[ClientId], m: Modulus) -> Vec<u64> {
    (0..D)
        .map(|i| {
            let s = included.iter().fold(0u128, |acc, &u| {
                (acc + u128::from(input_of(u, m)[i])) % m.value()
            });
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

fn too_few(round: Round, have: usize) -> Error {
    Error::Abort(AbortReason::TooFewSurvivors {
        round,
        have,
        need: T,
    })
}

fn rejected(client: ClientId, round: Round, reason: Misbehavior) -> Result<(), Rejected> {
    Err(Rejected::new(client, round, reason))
}

/// Runs the current round of `session`: every client that speaks answers, `hook` sees each
/// answer with the server's state of this round (it may send the server other messages
/// first), and the honest answer is delivered afterwards only if `hook` returns `true`; every
/// honest answer delivered must be accepted. The round is left open (`close` is the
/// caller's). Returns the session without the hook.
fn round_hooked<S, M>(
    session: Harness<'static>,
    server: impl Fn(&mut ServerSession) -> Option<&mut S>,
    message: impl Fn(&ClientMessage) -> Option<&M>,
    mut hook: impl FnMut(&mut S, &M) -> bool,
) -> Harness<'static> {
    let mut session = session.unhooked().on_client_message(|srv, _, m| {
        let deliver = match (server(srv), message(m)) {
            (Some(s), Some(m)) => hook(s, m),
            _ => true,
        };
        if deliver { Fate::Deliver } else { Fate::Drop }
    });
    session.send().unwrap();
    assert!(session.rejected().is_empty(), "{:?}", session.rejected());
    session.unhooked()
}

/// Every client of `session` that `waits` (in the state of the round about to run) has
/// received its message from the server.
fn assert_addressed(session: &Harness<'_>, waits: impl Fn(&ClientSession) -> bool) {
    for u in session.clients() {
        if session.client(u).is_some_and(&waits) {
            assert!(session.inbox(u).is_some(), "no message for client {u}");
        }
    }
}

/// Every client has advertised its keys, and the honest server has built the roster.
struct Advertised {
    session: Harness<'static>,
    roster: msg::Roster,
}

/// Runs AdvertiseKeys. Before the server receives each honest advertisement, `hook` may send it
/// other messages. The honest one is delivered afterwards only if `hook` returns `true`.
fn advertise_hooked(
    params: &Params,
    seed: u64,
    hook: impl FnMut(&mut server::AdvertiseKeys, &msg::AdvertiseKeys) -> bool,
) -> Advertised {
    let inputs = all_ids()
        .into_iter()
        .map(|u| PlainInput::new(input_of(u, params.modulus())))
        .collect();
    let session = round_hooked(
        Harness::new(params, inputs, seed),
        |s| match s {
            ServerSession::AdvertiseKeys(s) => Some(s),
            _ => None,
        },
        |m| match m {
            ClientMessage::AdvertiseKeys(m) => Some(m),
            _ => None,
        },
        hook,
    );
    let mut session = session;
    session.close().unwrap();
    // Clients whose advertisement the server refused are not in the session: they have no
    // roster.
    let Some(ServerMessage::Roster(roster)) = all_ids().iter().find_map(|&u| session.inbox(u))
    else {
        panic!("no roster");
    };
    let roster = roster.clone();
    Advertised { session, roster }
}

fn advertise(params: &Params, seed: u64) -> Advertised {
    advertise_hooked(params, seed, |_, _| true)
}

/// ShareKeys is done: each client that sent shares holds its delivery.
struct Shared {
    session: Harness<'static>,
}

impl Advertised {
    fn entry(&self, u: ClientId) -> &msg::AdvertiseKeys {
        self.roster.entries.iter().find(|e| e.sender == u).unwrap()
    }

    fn take(&mut self, u: ClientId) -> client::AdvertiseKeys {
        match self.session.take_client(u) {
            Some((ClientSession::AdvertiseKeys(c), _)) => c,
            _ => panic!("no client {u}"),
        }
    }

    fn rng(&mut self) -> &mut ChaCha20Rng {
        self.session.rng()
    }

    fn client(&self, u: ClientId) -> &client::AdvertiseKeys {
        match self.session.client(u) {
            Some(ClientSession::AdvertiseKeys(c)) => c,
            _ => panic!("no client {u}"),
        }
    }

    /// Runs ShareKeys; the clients in `silent` send nothing.
    fn share(self, silent: &[u32]) -> Shared {
        self.share_hooked(silent, |_, _| true)
    }

    fn share_hooked(
        mut self,
        silent: &[u32],
        hook: impl FnMut(&mut server::ShareKeys, &msg::ShareKeys) -> bool,
    ) -> Shared {
        for &u in silent {
            self.session
                .schedule_mut()
                .drop_from(id(u), Round::ShareKeys);
        }
        let mut session = round_hooked(
            self.session,
            |s| match s {
                ServerSession::ShareKeys(s) => Some(s),
                _ => None,
            },
            |m| match m {
                ClientMessage::ShareKeys(m) => Some(m),
                _ => None,
            },
            hook,
        );
        session.close().unwrap();
        Shared { session }
    }
}

/// MaskedInputCollection is done: each survivor holds its unmasking request.
struct Masked {
    session: Harness<'static>,
}

impl Shared {
    fn take(&mut self, u: ClientId) -> (client::ShareKeys, msg::SharesDelivery, PlainInput) {
        let input = self.session.take_input(u);
        match (self.session.take_client(u), input) {
            (
                Some((ClientSession::ShareKeys(c), Some(ServerMessage::SharesDelivery(delivery)))),
                Some(input),
            ) => (c, delivery, input),
            _ => panic!("no client {u} with a delivery"),
        }
    }

    fn client(&self, u: ClientId) -> &client::ShareKeys {
        match self.session.client(u) {
            Some(ClientSession::ShareKeys(c)) => c,
            _ => panic!("no client {u}"),
        }
    }

    fn server(&mut self) -> &mut server::MaskedInput {
        match self.session.server_mut() {
            Some(ServerSession::MaskedInput(s)) => s,
            _ => panic!("the server collects masked inputs"),
        }
    }

    /// Runs MaskedInputCollection; the clients in `silent` send nothing.
    fn mask(self, silent: &[u32]) -> Masked {
        self.mask_hooked(silent, |_, _| true)
    }

    fn mask_hooked(
        mut self,
        silent: &[u32],
        hook: impl FnMut(&mut server::MaskedInput, &msg::MaskedInput) -> bool,
    ) -> Masked {
        assert_addressed(&self.session, |c| matches!(c, ClientSession::ShareKeys(..)));
        for &u in silent {
            self.session
                .schedule_mut()
                .drop_from(id(u), Round::MaskedInput);
        }
        let mut session = round_hooked(
            self.session,
            |s| match s {
                ServerSession::MaskedInput(s) => Some(s),
                _ => None,
            },
            |m| match m {
                ClientMessage::MaskedInput(m) => Some(m),
                _ => None,
            },
            hook,
        );
        session.close().unwrap();
        Masked { session }
    }
}

impl Masked {
    fn take(&mut self, u: ClientId) -> (client::MaskedInput, msg::UnmaskingRequest) {
        match self.session.take_client(u) {
            Some((
                ClientSession::MaskedInput(c),
                Some(ServerMessage::UnmaskingRequest(request)),
            )) => (c, request),
            _ => panic!("no client {u} with a request"),
        }
    }

    fn server(&mut self) -> &mut server::Unmasking {
        match self.session.server_mut() {
            Some(ServerSession::Unmasking(s)) => s,
            _ => panic!("the server collects unmasking responses"),
        }
    }

    /// Every survivor answers its honest request; the server finishes.
    fn finish(self) -> Result<Output, Error> {
        self.finish_hooked(|_, _| true)
    }

    fn finish_hooked(
        self,
        hook: impl FnMut(&mut server::Unmasking, &msg::UnmaskingResponse) -> bool,
    ) -> Result<Output, Error> {
        assert_addressed(&self.session, |c| {
            matches!(c, ClientSession::MaskedInput(_))
        });
        let mut session = round_hooked(
            self.session,
            |s| match s {
                ServerSession::Unmasking(s) => Some(s),
                _ => None,
            },
            |m| match m {
                ClientMessage::UnmaskingResponse(m) => Some(m),
                _ => None,
            },
            hook,
        );
        match session.take_server() {
            Some(ServerSession::Unmasking(s)) => s.finish(),
            _ => panic!("the server collects unmasking responses"),
        }
    }
}

/// A share value that is not the honest one (the honest one is uniformly random).
fn bad_share() -> SecretScalar {
    SecretScalar::from_canonical_bytes([7; 32]).unwrap()
}

/// Fresh keys of a client outside the session, for rosters that need keys nobody listed.
fn outsider(params: &Params, u: ClientId, seed: u64) -> msg::AdvertiseKeys {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    client::AdvertiseKeys::new(params, u, &mut rng).1
}

fn assert_complete(out: Result<Output, Error>, included: &[ClientId], m: Modulus) {
    let out = out.unwrap();
    assert_eq!(out.included, included);
    assert_eq!(out.sum, sum_of(included, m));
}

// ---------------------------------------------------------------------------------------
// Round 1 (ShareKeys): the client checks the roster.
// ---------------------------------------------------------------------------------------

/// Gives client 3 the honest roster after `tamper`, and returns its error.
fn roster_refusal(seed: u64, tamper: impl FnOnce(&Advertised, &mut msg::Roster)) -> Error {
    let mut a = advertise(&params(), seed);
    let mut roster = a.roster.clone();
    tamper(&a, &mut roster);
    let c = a.take(id(3));
    refused(c.share_keys(&roster, a.rng()))
}

#[test]
fn honest_roster_is_accepted() {
    let mut a = advertise(&params(), 10);
    let roster = a.roster.clone();
    let c = a.take(id(3));
    let (_, out) = c.share_keys(&roster, a.rng()).unwrap();
    assert_eq!(out.sealed.len(), N - 1);
}

#[test]
fn rejects_roster_below_threshold() {
    let e = roster_refusal(11, |_, r| {
        r.entries.retain(|e| e.sender.0 >= 2 && e.sender.0 <= 3)
    });
    assert_eq!(e, too_few(Round::ShareKeys, T - 1));
}

#[test]
fn rejects_roster_missing_own_entry() {
    let e = roster_refusal(12, |_, r| r.entries.retain(|e| e.sender != id(3)));
    assert_eq!(
        e,
        by_server(Round::ShareKeys, Misbehavior::RosterMissingSelf)
    );
}

#[test]
fn rejects_roster_listing_own_entry_twice() {
    // Under its own id twice (replacing a peer, so the roster keeps the session's size).
    let e = roster_refusal(13, |a, r| {
        let own = a.entry(id(3)).clone();
        r.entries.retain(|e| e.sender != id(5));
        r.entries.push(own);
    });
    assert_eq!(
        e,
        by_server(Round::ShareKeys, Misbehavior::RosterSelfRepeated)
    );
}

#[test]
fn rejects_roster_listing_own_keys_under_another_id() {
    // Both keys, before and after the client's own entry.
    for peer in [2, 4] {
        let e = roster_refusal(14, |a, r| {
            let mut fake = a.entry(id(3)).clone();
            fake.sender = id(peer);
            for e in &mut r.entries {
                if e.sender == id(peer) {
                    *e = fake.clone();
                }
            }
        });
        assert_eq!(
            e,
            by_server(Round::ShareKeys, Misbehavior::RosterSelfRepeated),
            "peer {peer}"
        );
    }
    // The share key alone, and the mask key alone.
    let e = roster_refusal(15, |a, r| {
        let own = a.entry(id(3)).share_public_key;
        r.entries[3].share_public_key = own;
    });
    assert_eq!(
        e,
        by_server(Round::ShareKeys, Misbehavior::RosterSelfRepeated)
    );
    let e = roster_refusal(16, |a, r| {
        let own = a.entry(id(3)).mask_public_key;
        r.entries[0].mask_public_key = own;
    });
    assert_eq!(
        e,
        by_server(Round::ShareKeys, Misbehavior::RosterSelfRepeated)
    );
}

#[test]
fn rejects_roster_with_different_own_keys() {
    let p = params();
    let fresh = outsider(&p, id(3), 99);
    let wrong = by_server(Round::ShareKeys, Misbehavior::RosterWrongSelfKeys);
    let own = |r: &mut msg::Roster| -> usize {
        r.entries.iter().position(|e| e.sender == id(3)).unwrap()
    };
    let e = roster_refusal(17, |_, r| {
        let i = own(r);
        r.entries[i].share_public_key = fresh.share_public_key;
    });
    assert_eq!(e, wrong);
    let e = roster_refusal(18, |_, r| {
        let i = own(r);
        r.entries[i].mask_public_key = fresh.mask_public_key;
    });
    assert_eq!(e, wrong);
    let e = roster_refusal(19, |_, r| {
        let i = own(r);
        r.entries[i].self_mask_commitment = fresh.self_mask_commitment;
    });
    assert_eq!(e, wrong);
    // Its own two keys, swapped.
    let e = roster_refusal(20, |_, r| {
        let i = own(r);
        let entry = &mut r.entries[i];
        core::mem::swap(&mut entry.share_public_key, &mut entry.mask_public_key);
    });
    assert_eq!(e, wrong);
}

#[test]
fn rejects_roster_with_duplicate_id() {
    let p = params();
    let e = roster_refusal(21, |_, r| {
        // Client 4's place goes to a second "client 2" with keys of its own.
        let mut second = outsider(&p, id(2), 98);
        second.sender = id(2);
        r.entries.retain(|e| e.sender != id(4));
        r.entries.push(second);
    });
    assert_eq!(
        e,
        by_server(
            Round::ShareKeys,
            Misbehavior::RosterDuplicateId { peer: id(2) }
        )
    );
}

#[test]
fn rejects_roster_with_duplicate_public_key() {
    let dup = by_server(Round::ShareKeys, Misbehavior::RosterDuplicateKey);
    // Peers 4 and 2 share a share key, a mask key, or one's share key is the other's mask key.
    let e = roster_refusal(22, |_, r| {
        r.entries[3].share_public_key = r.entries[1].share_public_key
    });
    assert_eq!(e, dup);
    let e = roster_refusal(23, |_, r| {
        r.entries[3].mask_public_key = r.entries[1].mask_public_key
    });
    assert_eq!(e, dup);
    let e = roster_refusal(24, |_, r| {
        r.entries[3].mask_public_key = r.entries[1].share_public_key
    });
    assert_eq!(e, dup);
    // One peer whose two keys are equal.
    let e = roster_refusal(25, |_, r| {
        r.entries[4].mask_public_key = r.entries[4].share_public_key
    });
    assert_eq!(e, dup);
}

/// Points of small order on Curve25519 (u-coordinates, little-endian): 0, 1 and a point of
/// order 8. Key agreement with any of them gives a secret that does not depend on our key.
fn small_order_points() -> Vec<[u8; 32]> {
    let mut order8 = [0u8; 32];
    let hex = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";
    for (i, byte) in order8.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let mut one = [0u8; 32];
    one[0] = 1;
    vec![[0; 32], one, order8]
}

/// `u = p - 1 = -1`: a point of order 4 on the quadratic twist, where X25519 also gives the
/// all-zero output.
fn twist_small_order_point() -> [u8; 32] {
    let mut minus_one = [0xff; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    minus_one
}

#[test]
fn rejects_roster_with_small_order_key() {
    for point in small_order_points() {
        for which_key in ["share", "mask"] {
            let e = roster_refusal(26, |_, r| {
                let entry = &mut r.entries[3];
                match which_key {
                    "share" => entry.share_public_key = PublicKey(point),
                    _ => entry.mask_public_key = PublicKey(point),
                }
            });
            assert_eq!(
                e,
                by_server(
                    Round::ShareKeys,
                    Misbehavior::NonContributoryKey { peer: id(4) }
                ),
                "{which_key} key {point:02x?}"
            );
        }
    }
}

#[test]
fn rejects_roster_with_twist_small_order_share_key() {
    // Caught when the client derives the share-encryption key with that peer.
    let e = roster_refusal(27, |_, r| {
        r.entries[3].share_public_key = PublicKey(twist_small_order_point());
    });
    assert_eq!(
        e,
        by_server(
            Round::ShareKeys,
            Misbehavior::NonContributoryKey { peer: id(4) }
        )
    );
}

#[test]
fn rejects_roster_with_twist_small_order_mask_key() {
    let e = roster_refusal(27, |_, r| {
        r.entries[3].mask_public_key = PublicKey(twist_small_order_point());
    });
    assert_eq!(
        e,
        by_server(
            Round::ShareKeys,
            Misbehavior::NonContributoryKey { peer: id(4) }
        )
    );
}

#[test]
fn rejects_roster_of_another_session() {
    let wrong = by_server(Round::ShareKeys, Misbehavior::WrongSession);
    let e = roster_refusal(28, |_, r| r.session = OTHER_SESSION);
    assert_eq!(e, wrong);
    // One entry advertised in another session.
    let e = roster_refusal(29, |_, r| r.entries[1].session = OTHER_SESSION);
    assert_eq!(e, wrong);
}

#[test]
fn rejects_roster_larger_than_session() {
    let p = params();
    let e = roster_refusal(30, |_, r| r.entries.push(outsider(&p, id(6), 97)));
    assert_eq!(
        e,
        by_server(Round::ShareKeys, Misbehavior::UnexpectedMessage)
    );
}

// ---------------------------------------------------------------------------------------
// Round 2 (MaskedInputCollection): the client checks the share delivery.
// ---------------------------------------------------------------------------------------

/// Gives client 3 its honest delivery after `tamper`, and returns its error.
fn delivery_refusal(seed: u64, tamper: impl FnOnce(&mut msg::SharesDelivery)) -> Error {
    let mut s = advertise(&params(), seed).share(&[]);
    let (c, mut delivery, input) = s.take(id(3));
    tamper(&mut delivery);
    refused(c.masked_input(&delivery, &input))
}

fn sealed_index(d: &msg::SharesDelivery, sender: u32) -> usize {
    d.sealed
        .iter()
        .position(|s| s.sender == id(sender))
        .unwrap()
}

#[test]
fn honest_delivery_is_accepted() {
    let mut s = advertise(&params(), 40).share(&[]);
    let (c, delivery, input) = s.take(id(3));
    assert_eq!(delivery.sealed.len(), N - 1);
    let (_, out) = c.masked_input(&delivery, &input).unwrap();
    assert_eq!(out.masked.len(), D);
}

#[test]
fn rejects_delivery_of_another_session() {
    let e = delivery_refusal(41, |d| d.session = OTHER_SESSION);
    assert_eq!(e, by_server(Round::MaskedInput, Misbehavior::WrongSession));
}

#[test]
fn rejects_delivery_addressed_to_another_recipient() {
    let wrong = by_server(Round::MaskedInput, Misbehavior::WrongRecipient);
    let e = delivery_refusal(42, |d| d.recipient = id(4));
    assert_eq!(e, wrong);
    // One sealed share inside is addressed to someone else.
    let e = delivery_refusal(43, |d| {
        let i = sealed_index(d, 2);
        d.sealed[i].recipient = id(4);
    });
    assert_eq!(e, wrong);
}

#[test]
fn rejects_delivery_with_share_from_unknown_peer() {
    for stranger in [99, 3] {
        let e = delivery_refusal(44, |d| {
            let i = sealed_index(d, 2);
            d.sealed[i].sender = id(stranger);
        });
        assert_eq!(
            e,
            by_server(
                Round::MaskedInput,
                Misbehavior::UnknownPeer { peer: id(stranger) }
            ),
            "sender {stranger}"
        );
    }
}

#[test]
fn rejects_delivery_with_repeated_sender() {
    let e = delivery_refusal(45, |d| {
        let i = sealed_index(d, 4);
        let again = d.sealed[i].clone();
        d.sealed.push(again);
    });
    assert_eq!(
        e,
        by_server(Round::MaskedInput, Misbehavior::RepeatedId { peer: id(4) })
    );
}

#[test]
fn rejects_tampered_share_ciphertext() {
    let from_peer = |peer: u32| Error::Misbehaved {
        by: Party::Client(id(peer)),
        round: Round::MaskedInput,
        what: Misbehavior::UndecryptableShare { peer: id(peer) },
    };
    // A flipped bit.
    let e = delivery_refusal(46, |d| {
        let i = sealed_index(d, 2);
        d.sealed[i].ciphertext[5] ^= 0x10;
    });
    assert_eq!(e, from_peer(2));
    // A ciphertext cut short and zero-filled (a shorter one is unrepresentable: the field is
    // `[u8; 80]`, and the wire decoder refuses short ones, `tests/wire.rs`).
    let e = delivery_refusal(47, |d| {
        let i = sealed_index(d, 5);
        d.sealed[i].ciphertext[10..].fill(0);
    });
    assert_eq!(e, from_peer(5));
    // Peer 2's ciphertext relabelled as peer 4's: it is bound to its sender and fails.
    let e = delivery_refusal(48, |d| {
        d.sealed.retain(|s| s.sender != id(4));
        let i = sealed_index(d, 2);
        let mut relabelled = d.sealed[i].clone();
        relabelled.sender = id(4);
        d.sealed.push(relabelled);
    });
    assert_eq!(e, from_peer(4));
}

#[test]
fn rejects_delivery_leaving_fewer_than_t() {
    // Only one peer's shares: the client and that peer make t - 1.
    let e = delivery_refusal(49, |d| d.sealed.retain(|s| s.sender == id(2)));
    assert_eq!(e, too_few(Round::MaskedInput, T - 1));
    let e = delivery_refusal(50, |d| d.sealed.clear());
    assert_eq!(e, too_few(Round::MaskedInput, 1));
}

// ---------------------------------------------------------------------------------------
// Round 4 (Unmasking): the client checks the unmasking request.
// ---------------------------------------------------------------------------------------

/// Gives client 1 its honest request after `tamper`, in a session where the clients in
/// `share_silent` sent no shares and those in `mask_silent` no masked input.
fn request_refusal(
    seed: u64,
    share_silent: &[u32],
    mask_silent: &[u32],
    tamper: impl FnOnce(&mut msg::UnmaskingRequest),
) -> Error {
    let mut m = advertise(&params(), seed)
        .share(share_silent)
        .mask(mask_silent);
    let (c, mut request) = m.take(id(1));
    tamper(&mut request);
    refused(c.unmasking(&request))
}

#[test]
fn honest_request_is_accepted() {
    let mut m = advertise(&params(), 60).share(&[5]).mask(&[4]);
    let (c, request) = m.take(id(1));
    assert_eq!(request.survivors, ids(&[1, 2, 3]));
    assert_eq!(request.dropped, ids(&[4]));
    assert_eq!(
        c.peer_state(id(5)),
        Some(secagg::PeerState::Dropped {
            at: Round::ShareKeys
        })
    );
    let (_, out) = c.unmasking(&request).unwrap();
    assert_eq!(out.self_mask_shares.len(), 3);
    assert_eq!(out.key_shares.len(), 1);
}

#[test]
fn rejects_unmasking_request_of_another_session() {
    let e = request_refusal(61, &[], &[], |r| r.session = OTHER_SESSION);
    assert_eq!(e, by_server(Round::Unmasking, Misbehavior::WrongSession));
}

#[test]
fn rejects_unmasking_request_for_another_recipient() {
    let e = request_refusal(62, &[], &[], |r| r.recipient = id(2));
    assert_eq!(e, by_server(Round::Unmasking, Misbehavior::WrongRecipient));
}

#[test]
fn rejects_request_naming_self_dropped() {
    // SECURITY: the client's key share plus its masked input would unmask its input.
    let e = request_refusal(63, &[], &[], |r| {
        r.survivors.retain(|u| *u != id(1));
        r.dropped.push(id(1));
    });
    assert_eq!(
        e,
        by_server(Round::Unmasking, Misbehavior::SelfNamedDropped)
    );
}

#[test]
fn rejects_request_omitting_self() {
    let e = request_refusal(64, &[], &[], |r| r.survivors.retain(|u| *u != id(1)));
    assert_eq!(e, by_server(Round::Unmasking, Misbehavior::SelfNotSurvivor));
}

#[test]
fn rejects_request_repeating_a_survivor() {
    let e = request_refusal(65, &[], &[], |r| r.survivors.push(id(3)));
    assert_eq!(
        e,
        by_server(Round::Unmasking, Misbehavior::RepeatedId { peer: id(3) })
    );
}

#[test]
fn rejects_request_repeating_a_dropped_client() {
    let e = request_refusal(66, &[], &[5], |r| {
        assert_eq!(r.dropped, ids(&[5]));
        r.dropped.push(id(5));
    });
    assert_eq!(
        e,
        by_server(Round::Unmasking, Misbehavior::RepeatedId { peer: id(5) })
    );
}

#[test]
fn rejects_request_for_both_shares_of_one_peer() {
    // SECURITY: the self-mask share and the key share of one peer together unmask its
    // input. A survivor also named as dropped:
    let e = request_refusal(67, &[], &[5], |r| r.dropped.push(id(2)));
    assert_eq!(
        e,
        by_server(
            Round::Unmasking,
            Misbehavior::SurvivorAndDropped { peer: id(2) }
        )
    );
    // And a dropped client also named as survivor:
    let e = request_refusal(68, &[], &[5], |r| r.survivors.push(id(5)));
    assert_eq!(
        e,
        by_server(
            Round::Unmasking,
            Misbehavior::SurvivorAndDropped { peer: id(5) }
        )
    );
}

#[test]
fn rejects_request_naming_unknown_peer() {
    let unknown = by_server(Round::Unmasking, Misbehavior::UnknownPeer { peer: id(9) });
    let e = request_refusal(69, &[], &[], |r| r.survivors.push(id(9)));
    assert_eq!(e, unknown);
    let e = request_refusal(70, &[], &[], |r| r.dropped.push(id(9)));
    assert_eq!(e, unknown);
}

#[test]
fn rejects_request_reviving_peer_dropped_at_share_keys() {
    // Client 5 sent no shares: it is not in U_2, so it can be neither survivor nor dropped.
    let reappeared = by_server(
        Round::Unmasking,
        Misbehavior::PeerReappeared { peer: id(5) },
    );
    let e = request_refusal(71, &[5], &[], |r| {
        assert_eq!(r.survivors, ids(&[1, 2, 3, 4]));
        r.survivors.push(id(5));
    });
    assert_eq!(e, reappeared);
    let e = request_refusal(72, &[5], &[], |r| r.dropped.push(id(5)));
    assert_eq!(e, reappeared);
}

#[test]
fn rejects_request_omitting_live_peer() {
    let e = request_refusal(73, &[], &[], |r| r.survivors.retain(|u| *u != id(4)));
    assert_eq!(
        e,
        by_server(
            Round::Unmasking,
            Misbehavior::PeerUnaccounted { peer: id(4) }
        )
    );
    // A dropped peer left out of the dropped list.
    let e = request_refusal(74, &[], &[5], |r| r.dropped.clear());
    assert_eq!(
        e,
        by_server(
            Round::Unmasking,
            Misbehavior::PeerUnaccounted { peer: id(5) }
        )
    );
}

#[test]
fn rejects_request_with_fewer_than_t_survivors() {
    let e = request_refusal(75, &[], &[], |r| {
        r.survivors = ids(&[1, 2]);
        r.dropped = ids(&[3, 4, 5]);
    });
    assert_eq!(e, too_few(Round::Unmasking, T - 1));
}

// ---------------------------------------------------------------------------------------
// The server: a rejected message changes nothing.
// ---------------------------------------------------------------------------------------

#[test]
fn server_rejects_wrong_session() {
    let p = params();
    let mut count = 0;
    let out = advertise_hooked(&p, 80, |server, honest| {
        let mut bad = honest.clone();
        bad.session = OTHER_SESSION;
        let from = honest.sender;
        let want = rejected(from, Round::AdvertiseKeys, Misbehavior::WrongSession);
        assert_eq!(server.receive(from, bad), want);
        count += 1;
        true
    })
    .share_hooked(&[], |server, honest| {
        let mut bad = honest.clone();
        bad.session = OTHER_SESSION;
        let from = honest.sender;
        let want = rejected(from, Round::ShareKeys, Misbehavior::WrongSession);
        assert_eq!(server.receive(from, bad), want);
        count += 1;
        true
    })
    .mask_hooked(&[], |server, honest| {
        let mut bad = honest.clone();
        bad.session = OTHER_SESSION;
        let from = honest.sender;
        let want = rejected(from, Round::MaskedInput, Misbehavior::WrongSession);
        assert_eq!(server.receive(from, bad), want);
        count += 1;
        true
    })
    .finish_hooked(|server, honest| {
        let mut bad = copy_response(honest);
        bad.session = OTHER_SESSION;
        let from = honest.sender;
        let want = rejected(from, Round::Unmasking, Misbehavior::WrongSession);
        assert_eq!(server.receive(from, bad), want);
        count += 1;
        true
    });
    assert_eq!(count, 4 * N);
    assert_complete(out, &all_ids(), p.modulus());
}

#[test]
fn server_rejects_wrong_sender() {
    let p = params();
    let mut count = 0;
    // Each message arrives from the next client (5 -> 1), claiming its real sender.
    let next = |u: ClientId| id(u.0 % 5 + 1);
    let out = advertise_hooked(&p, 81, |server, honest| {
        let from = next(honest.sender);
        let want = rejected(from, Round::AdvertiseKeys, Misbehavior::WrongSender);
        assert_eq!(server.receive(from, honest.clone()), want);
        count += 1;
        true
    })
    .share_hooked(&[], |server, honest| {
        let from = next(honest.sender);
        let want = rejected(from, Round::ShareKeys, Misbehavior::WrongSender);
        assert_eq!(server.receive(from, honest.clone()), want);
        count += 1;
        true
    })
    .mask_hooked(&[], |server, honest| {
        let from = next(honest.sender);
        let want = rejected(from, Round::MaskedInput, Misbehavior::WrongSender);
        assert_eq!(server.receive(from, honest.clone()), want);
        count += 1;
        true
    })
    .finish_hooked(|server, honest| {
        let from = next(honest.sender);
        let want = rejected(from, Round::Unmasking, Misbehavior::WrongSender);
        assert_eq!(server.receive(from, copy_response(honest)), want);
        count += 1;
        true
    });
    assert_eq!(count, 4 * N);
    assert_complete(out, &all_ids(), p.modulus());
}

#[test]
fn server_rejects_duplicate_message() {
    let p = params();
    let mut count = 0;
    // Each hook delivers the honest message itself, then a copy.
    let out = advertise_hooked(&p, 82, |server, honest| {
        let from = honest.sender;
        server.receive(from, honest.clone()).unwrap();
        let want = rejected(from, Round::AdvertiseKeys, Misbehavior::DuplicateMessage);
        assert_eq!(server.receive(from, honest.clone()), want);
        count += 1;
        false
    })
    .share_hooked(&[], |server, honest| {
        let from = honest.sender;
        server.receive(from, honest.clone()).unwrap();
        let want = rejected(from, Round::ShareKeys, Misbehavior::DuplicateMessage);
        assert_eq!(server.receive(from, honest.clone()), want);
        count += 1;
        false
    })
    .mask_hooked(&[], |server, honest| {
        let from = honest.sender;
        server.receive(from, honest.clone()).unwrap();
        // A second masked input would be added twice into the sum.
        let want = rejected(from, Round::MaskedInput, Misbehavior::DuplicateMessage);
        assert_eq!(server.receive(from, honest.clone()), want);
        count += 1;
        false
    })
    .finish_hooked(|server, honest| {
        let from = honest.sender;
        server.receive(from, copy_response(honest)).unwrap();
        let want = rejected(from, Round::Unmasking, Misbehavior::DuplicateMessage);
        assert_eq!(server.receive(from, copy_response(honest)), want);
        count += 1;
        false
    });
    assert_eq!(count, 4 * N);
    assert_complete(out, &all_ids(), p.modulus());
}

#[test]
fn server_rejects_message_from_client_outside_round() {
    let p = params();
    // Client 5 sent no shares, so its masked input is not expected (it is not in U_2).
    let mut s = advertise(&p, 83).share(&[5]);
    let honest = msg::MaskedInput {
        session: SESSION,
        sender: id(5),
        roster_digest: [0; 32],
        masked: vec![0; D],
    };
    assert_eq!(
        s.server().receive(id(5), honest),
        rejected(id(5), Round::MaskedInput, Misbehavior::UnexpectedMessage)
    );
    let out = s.mask(&[]).finish();
    assert_complete(out, &ids(&[1, 2, 3, 4]), p.modulus());
}

#[test]
fn server_rejects_masked_input_of_wrong_length() {
    let p = params();
    let mut count = 0;
    let out = advertise(&p, 84)
        .share(&[])
        .mask_hooked(&[], |server, honest| {
            let from = honest.sender;
            let mut short = honest.clone();
            short.masked.pop();
            let want = Misbehavior::VectorLength {
                got: D - 1,
                expected: D,
            };
            assert_eq!(
                server.receive(from, short),
                rejected(from, Round::MaskedInput, want)
            );
            let mut long = honest.clone();
            long.masked.push(0);
            let want = Misbehavior::VectorLength {
                got: D + 1,
                expected: D,
            };
            assert_eq!(
                server.receive(from, long),
                rejected(from, Round::MaskedInput, want)
            );
            let mut empty = honest.clone();
            empty.masked.clear();
            let want = Misbehavior::VectorLength {
                got: 0,
                expected: D,
            };
            assert_eq!(
                server.receive(from, empty),
                rejected(from, Round::MaskedInput, want)
            );
            count += 1;
            true
        })
        .finish();
    assert_eq!(count, N);
    assert_complete(out, &all_ids(), p.modulus());
}

#[test]
fn server_rejects_masked_element_out_of_range() {
    let moduli = [
        Modulus::new(1_000_003).unwrap(),
        Modulus::new(3).unwrap(),
        Modulus::new(u64::MAX).unwrap(),
        Modulus::power_of_two(16).unwrap(),
    ];
    for m in moduli {
        let p = params_with(m);
        let mut count = 0;
        let out = advertise(&p, 85)
            .share(&[])
            .mask_hooked(&[], |server, honest| {
                let from = honest.sender;
                let too_big = u64::try_from(m.value()).unwrap();
                for (position, value) in [(0, too_big), (D - 1, u64::MAX)] {
                    let mut bad = honest.clone();
                    bad.masked[position] = value;
                    assert_eq!(
                        server.receive(from, bad),
                        rejected(from, Round::MaskedInput, Misbehavior::ElementOutOfRange),
                        "{m:?}"
                    );
                }
                count += 1;
                true
            })
            .finish();
        assert_eq!(count, N);
        assert_complete(out, &all_ids(), m);
    }
}

#[test]
fn server_rejects_share_keys_not_one_per_peer() {
    let p = params();
    let mut count = 0;
    let out = advertise(&p, 86)
        .share_hooked(&[], |server, honest| {
            let from = honest.sender;
            let first = honest.sealed[0].recipient;
            let second = honest.sealed[1].recipient;
            let mismatch =
                |peer| rejected(from, Round::ShareKeys, Misbehavior::SharesMismatch { peer });
            // A recipient missing.
            let mut missing = honest.clone();
            missing.sealed.remove(0);
            assert_eq!(server.receive(from, missing), mismatch(from));
            // A recipient twice, another missing.
            let mut twice = honest.clone();
            twice.sealed[1].recipient = first;
            assert_eq!(server.receive(from, twice), mismatch(first));
            // A share sealed to the sender itself.
            let mut to_self = honest.clone();
            to_self.sealed[0].recipient = from;
            assert_eq!(server.receive(from, to_self), mismatch(from));
            // A recipient outside the roster.
            let mut stranger = honest.clone();
            stranger.sealed[0].recipient = id(9);
            assert_eq!(server.receive(from, stranger), mismatch(id(9)));
            // A share claiming another sender.
            let mut relabelled = honest.clone();
            relabelled.sealed[1].sender = first;
            assert_eq!(server.receive(from, relabelled), mismatch(second));
            // (A ciphertext of the wrong length cannot be built: the field is `[u8; 80]`.)
            count += 1;
            true
        })
        .mask(&[])
        .finish();
    assert_eq!(count, N);
    assert_complete(out, &all_ids(), p.modulus());
}

#[test]
fn server_rejects_unmasking_response_for_wrong_set() {
    let p = params();
    let mut count = 0;
    // Client 5 dropped before its masked input: survivors reveal key shares of 5.
    let out = advertise(&p, 87)
        .share(&[])
        .mask(&[5])
        .finish_hooked(|server, honest| {
            let from = honest.sender;
            let wrong = |owner| {
                rejected(
                    from,
                    Round::Unmasking,
                    Misbehavior::SharesForWrongSet { owner },
                )
            };
            // A self-mask share missing.
            let mut missing = copy_response(honest);
            missing.self_mask_shares.remove(2);
            assert_eq!(server.receive(from, missing), wrong(id(1)));
            // A self-mask share for the wrong owner.
            let mut misnamed = copy_response(honest);
            misnamed.self_mask_shares[1].0 = id(9);
            assert_eq!(server.receive(from, misnamed), wrong(id(9)));
            // A self-mask share for the dropped client (both shares of client 5).
            let mut both = copy_response(honest);
            both.self_mask_shares.push((id(5), bad_share()));
            assert_eq!(server.receive(from, both), wrong(id(1)));
            // No key share of the dropped client.
            let mut no_key = copy_response(honest);
            no_key.key_shares.clear();
            assert_eq!(server.receive(from, no_key), wrong(id(5)));
            // A key share of a survivor instead.
            let mut survivor_key = copy_response(honest);
            survivor_key.key_shares[0].0 = id(2);
            assert_eq!(server.receive(from, survivor_key), wrong(id(2)));
            count += 1;
            true
        });
    assert_eq!(count, N - 1);
    assert_complete(out, &ids(&[1, 2, 3, 4]), p.modulus());
}

#[test]
fn server_rejects_small_order_and_repeated_keys() {
    let p = params();
    let mut first: Option<msg::AdvertiseKeys> = None;
    let out = advertise_hooked(&p, 88, |server, honest| {
        let from = honest.sender;
        for point in small_order_points() {
            let mut bad = honest.clone();
            bad.mask_public_key = PublicKey(point);
            assert_eq!(
                server.receive(from, bad),
                rejected(
                    from,
                    Round::AdvertiseKeys,
                    Misbehavior::NonContributoryKey { peer: from }
                )
            );
        }
        let mut same = honest.clone();
        same.mask_public_key = same.share_public_key;
        let dup = rejected(from, Round::AdvertiseKeys, Misbehavior::RosterDuplicateKey);
        assert_eq!(server.receive(from, same), dup);
        if let Some(earlier) = &first {
            let mut copied = honest.clone();
            copied.share_public_key = earlier.mask_public_key;
            assert_eq!(server.receive(from, copied), dup);
        } else {
            first = Some(honest.clone());
        }
        true
    })
    .share(&[])
    .mask(&[])
    .finish();
    assert_complete(out, &all_ids(), p.modulus());
}

#[test]
fn server_rejects_twist_small_order_key() {
    let p = params();
    // Client 5 is malicious: its mask key makes every agreement with it non-contributory.
    let out = advertise_hooked(&p, 89, |server, honest| {
        let from = honest.sender;
        if from != id(5) {
            return true;
        }
        let mut bad = honest.clone();
        bad.mask_public_key = PublicKey(twist_small_order_point());
        let want = Misbehavior::NonContributoryKey { peer: from };
        assert_eq!(
            server.receive(from, bad),
            rejected(from, Round::AdvertiseKeys, want)
        );
        false
    })
    .share(&[])
    .mask(&[])
    .finish();
    assert_complete(out, &ids(&[1, 2, 3, 4]), p.modulus());
}

// ---------------------------------------------------------------------------------------
// A corrupt client in Unmasking: the server aborts rather than output a wrong sum.
// ---------------------------------------------------------------------------------------

/// Runs a session where client `liar` reveals a bad share of `owner`'s secret (its self-mask
/// seed if `owner` survived, its mask key if `owner` is in `mask_silent`).
fn lying_session(seed: u64, liar: u32, owner: u32, mask_silent: &[u32]) -> Result<Output, Error> {
    let p = params();
    let mut lied = false;
    let out = advertise(&p, seed)
        .share(&[])
        .mask(mask_silent)
        .finish_hooked(|server, honest| {
            if honest.sender != id(liar) {
                return true;
            }
            let mut bad = copy_response(honest);
            let list = if mask_silent.contains(&owner) {
                &mut bad.key_shares
            } else {
                &mut bad.self_mask_shares
            };
            let entry = list.iter_mut().find(|(o, _)| *o == id(owner)).unwrap();
            entry.1 = bad_share();
            // The server cannot tell a bad share from a good one on arrival.
            server.receive(honest.sender, bad).unwrap();
            lied = true;
            false
        });
    assert!(lied, "liar {liar} did not respond");
    out
}

#[test]
fn aborts_on_bad_self_mask_share() {
    // Client 1 is among the first t responders, whose shares the server uses.
    let e = lying_session(90, 1, 3, &[]).unwrap_err();
    assert_eq!(
        e,
        Error::Abort(AbortReason::ReconstructionMismatch { owner: id(3) })
    );
    // A lie about its own seed is caught the same way.
    let e = lying_session(91, 2, 2, &[]).unwrap_err();
    assert_eq!(
        e,
        Error::Abort(AbortReason::ReconstructionMismatch { owner: id(2) })
    );
}

#[test]
fn aborts_on_bad_key_share() {
    let e = lying_session(92, 1, 5, &[5]).unwrap_err();
    assert_eq!(
        e,
        Error::Abort(AbortReason::ReconstructionMismatch { owner: id(5) })
    );
}

#[test]
fn bad_share_never_yields_wrong_sum() {
    // Whoever lies about whichever secret, the server either never uses the bad share (and
    // outputs the right sum) or detects it. It never outputs a wrong sum.
    let m = params().modulus();
    for liar in 1..=4 {
        for owner in 1..=5 {
            let seed = 100 + u64::from(liar * 10 + owner);
            match lying_session(seed, liar, owner, &[5]) {
                Ok(out) => {
                    assert_eq!(out.included, ids(&[1, 2, 3, 4]));
                    assert_eq!(
                        out.sum,
                        sum_of(&out.included, m),
                        "liar {liar}, owner {owner}"
                    );
                }
                Err(e) => assert_eq!(
                    e,
                    Error::Abort(AbortReason::ReconstructionMismatch { owner: id(owner) }),
                    "liar {liar}, owner {owner}"
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Debug output never shows secrets.
// ---------------------------------------------------------------------------------------

/// The renderings of a share value that a leaky `Debug` might print.
fn renderings(share: &SecretScalar) -> Vec<String> {
    let bytes = *share.to_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        format!("{bytes:?}"),
        format!("{:?}", &bytes[..8]),
        hex[..16].to_string(),
    ]
}

fn assert_hides(debug: &str, secrets: &[SecretScalar]) {
    for s in secrets {
        for r in renderings(s) {
            assert!(!debug.contains(&r), "{debug} shows {r}");
        }
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let input = PlainInput::new(vec![123_456_789, 987_654_321]);
    for debug in [format!("{input:?}"), format!("{input:#?}")] {
        assert!(!debug.contains("123456789"), "{debug}");
        assert!(!debug.contains("987654321"), "{debug}");
    }

    // Capture client 1's state in every round, then the shares it finally reveals, and check
    // that no earlier Debug output showed them.
    let p = params();
    let a = advertise(&p, 120);
    let mut debugs = vec![format!("{:?}", a.client(id(1)))];
    let mut s = a.share(&[]);
    debugs.push(format!("{:#?}", s.client(id(1))));
    debugs.push(format!("{:?}", s.server()));
    let mut m = s.mask(&[]);
    let (c, request) = m.take(id(1));
    debugs.push(format!("{c:?}"));
    debugs.push(format!("{c:#?}"));
    debugs.push(format!("{:?}", m.server()));
    let (done, response) = c.unmasking(&request).unwrap();
    debugs.push(format!("{done:?}"));
    debugs.push(format!("{response:?}"));
    debugs.push(format!("{response:#?}"));
    m.server().receive(id(1), copy_response(&response)).unwrap();
    debugs.push(format!("{:?}", m.server()));
    let revealed: Vec<SecretScalar> = response
        .self_mask_shares
        .iter()
        .chain(&response.key_shares)
        .map(|(_, s)| s.duplicate())
        .collect();
    assert_eq!(revealed.len(), N);
    for debug in &debugs {
        assert_hides(debug, &revealed);
    }
    // The test can fail: a plain rendering of the scalar would contain them.
    let leaky = format!("{:?}", *revealed[0].to_bytes());
    assert!(renderings(&revealed[0]).iter().any(|r| leaky.contains(r)));
}
