//! The fuzz harness: the server under test.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Properties of every message the server sends, whatever the clients sent it: it decodes
/// under the session's own limits, goes to the right clients, and its lists are well formed.
pub(super) fn check_envelope(
    params: &Params,
    limits: &Limits,
    envelope: &Envelope,
) -> ServerMessage {
    let decoded = wire::from_bytes::<ServerMessage>(&envelope.bytes, limits);
    let Ok(m) = decoded else {
        panic!("a server message its clients cannot decode: {decoded:?}");
    };
    let distinct = |ids: &[ClientId]| ids.iter().collect::<BTreeSet<_>>().len() == ids.len();
    match &m {
        ServerMessage::Roster(r) => {
            assert!(r.entries.len() <= params.clients());
            let senders: Vec<ClientId> = r.entries.iter().map(|e| e.sender).collect();
            assert!(distinct(&senders));
            match &r.slice {
                // A whole roster goes to every member.
                None => assert_eq!(envelope.to, senders),
                // A view goes to its recipient, holds it, and its proof opens the tree.
                Some(slice) => {
                    assert_eq!(envelope.to, [slice.recipient]);
                    assert!(senders.contains(&slice.recipient));
                    let opened = crate::protocol::roster_tree::verify(&slice.proof, &r.entries);
                    assert!(opened.is_ok(), "a view whose proof fails: {opened:?}");
                }
            }
            let mut keys = BTreeSet::new();
            for e in &r.entries {
                assert!(keys.insert(e.share_public_key), "repeated key in roster");
                assert!(keys.insert(e.mask_public_key), "repeated key in roster");
                assert!(!e.share_public_key.is_small_order());
                assert!(!e.mask_public_key.is_small_order());
            }
        }
        ServerMessage::SharesDelivery(d) => {
            assert_eq!(envelope.to, [d.recipient]);
            let senders: Vec<ClientId> = d.sealed.iter().map(|s| s.sender).collect();
            assert!(distinct(&senders));
            assert!(d.sealed.iter().all(|s| s.recipient == d.recipient));
            assert!(!senders.contains(&d.recipient));
        }
        ServerMessage::ConsistencyRequest(c) => {
            assert_eq!(envelope.to, [c.recipient]);
            assert!(distinct(&c.survivors));
            assert!(c.survivors.contains(&c.recipient));
            // A slice opens the survivor tree at exactly its statuses, in id order, each id
            // once (survived or dropped, never both).
            if let Some(slice) = &c.slice {
                let mut statuses: Vec<(ClientId, bool)> = c
                    .survivors
                    .iter()
                    .map(|&v| (v, true))
                    .chain(slice.dropped.iter().map(|&v| (v, false)))
                    .collect();
                statuses.sort_unstable();
                let ids: Vec<ClientId> = statuses.iter().map(|s| s.0).collect();
                assert!(distinct(&ids), "a client both survived and dropped");
                let opened =
                    crate::protocol::roster_tree::verify_survivors(&slice.proof, &statuses);
                assert!(opened.is_ok(), "a slice whose proof fails: {opened:?}");
            }
        }
        ServerMessage::UnmaskingRequest(u) => {
            assert_eq!(envelope.to, [u.recipient]);
            assert!(distinct(&u.survivors) && distinct(&u.dropped));
            assert!(
                u.survivors.iter().all(|v| !u.dropped.contains(v)),
                "a client named both survivor and dropped"
            );
            assert!(u.survivors.contains(&u.recipient));
        }
    }
    m
}

/// One message the server sent.
#[derive(Clone, Debug)]
pub(super) struct Sent {
    pub(super) to: Vec<ClientId>,
    pub(super) message: ServerMessage,
    pub(super) bytes: Vec<u8>,
}

/// A [`ServerSession`] and honest clients running side by side; the fuzz input decides what
/// the server receives and when rounds close.
pub(super) struct World {
    pub(super) params: Params,
    pub(super) limits: Limits,
    /// `None` once the session finished or aborted.
    pub(super) server: Option<ServerSession>,
    pub(super) clients: BTreeMap<ClientId, Honest>,
    /// The masked input the server accepted from each client.
    pub(super) accepted: BTreeMap<ClientId, Vec<u64>>,
    /// Every message an honest client produced, for replays.
    pub(super) history: Vec<Vec<u8>>,
    /// Every message the server sent, in order.
    pub(super) sent: Vec<Sent>,
    /// The keys of every honest advertisement, for mutations.
    pub(super) keys: Vec<PublicKey>,
    pub(super) outcome: Option<Result<Output, Error>>,
}

impl World {
    pub(super) fn new(params: &Params, with_pki: bool) -> Self {
        let pki = (params.threat_model() == ThreatModel::Malicious && with_pki)
            .then(|| cached_pki(params));
        let clients: BTreeMap<ClientId, Honest> = ids(params)
            .into_iter()
            .map(|u| (u, Honest::new(params, u)))
            .collect();
        let keys = clients
            .values()
            .flat_map(|c| [c.advert.share_public_key, c.advert.mask_public_key])
            .collect();
        let history = clients.values().filter_map(|c| c.pending.clone()).collect();
        Self {
            limits: Limits::for_params(params),
            params: params.clone(),
            server: Some(ServerSession::new(params, pki)),
            clients,
            accepted: BTreeMap::new(),
            history,
            sent: Vec::new(),
            keys,
            outcome: None,
        }
    }

    pub(super) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            n: self.params.clients(),
            modulus: self.params.modulus(),
            keys: &self.keys,
        }
    }

    /// Hands `bytes` to the server as coming from `from`.
    pub(super) fn deliver(&mut self, from: ClientId, bytes: &[u8]) {
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let decoded = wire::from_bytes::<ClientMessage>(bytes, &self.limits);
        match server.receive(&self.params, from, bytes) {
            Ok(()) => {
                let Ok(message) = decoded else {
                    panic!("server accepted bytes that do not decode: {decoded:?}");
                };
                assert_eq!(message.sender(), from, "accepted for another sender");
                if let ClientMessage::MaskedInput(y) = message {
                    let first = self.accepted.insert(from, y.masked).is_none();
                    assert!(first, "server accepted two masked inputs from {from}");
                }
            }
            Err(rejected) => {
                let _ = rejected.to_string();
                assert_eq!(rejected.client, from);
                if let Err(e) = decoded {
                    assert_eq!(rejected.reason, Misbehavior::Malformed(e));
                }
            }
        }
    }

    pub(super) fn deliver_pending(&mut self, id: ClientId) {
        let Some(bytes) = self.clients.get_mut(&id).and_then(|c| c.pending.take()) else {
            return;
        };
        self.deliver(id, &bytes);
    }

    pub(super) fn deliver_all(&mut self) {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            self.deliver_pending(id);
        }
    }

    pub(super) fn drop_client(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.silent = true;
            c.pending = None;
        }
    }

    /// Closes the server's round and hands what it sends to the honest clients.
    pub(super) fn close(&mut self) {
        let Some(server) = self.server.take() else {
            return;
        };
        for c in self.clients.values_mut() {
            // What was not delivered before the deadline is lost.
            c.pending = None;
        }
        match server.close(&self.params) {
            Err(e) => {
                let _ = e.to_string();
                self.outcome = Some(Err(e));
            }
            Ok(Closed::Done(output)) => self.outcome = Some(Ok(output)),
            Ok(Closed::Next(server, envelopes)) => {
                self.server = Some(*server);
                for envelope in envelopes {
                    let message = check_envelope(&self.params, &self.limits, &envelope);
                    self.route(&envelope);
                    self.sent.push(Sent {
                        to: envelope.to,
                        message,
                        bytes: envelope.bytes,
                    });
                }
            }
        }
    }

    pub(super) fn route(&mut self, envelope: &Envelope) {
        for id in &envelope.to {
            let Some(c) = self.clients.get_mut(id).filter(|c| !c.silent) else {
                continue;
            };
            if c.handle(&envelope.bytes).is_ok()
                && let Some(p) = &c.pending
            {
                self.history.push(p.clone());
            }
        }
    }

    /// Every client delivers what it has and the round closes, until the session ends.
    pub(super) fn run_honestly(&mut self) {
        for _ in 0..6 {
            if self.server.is_none() {
                break;
            }
            self.deliver_all();
            self.close();
        }
    }

    /// Whenever the session completed, its output is the sum of the inputs of the clients it
    /// says it included, as far as the masked inputs it accepted are known: each included
    /// client contributes `x_u + (accepted y_u - honest y_u)`.
    pub(super) fn check_outcome(&self) {
        let Some(Ok(output)) = &self.outcome else {
            return;
        };
        let m = self.params.modulus();
        assert_eq!(output.sum.len(), self.params.vector_len());
        assert!(output.sum.iter().all(|&x| m.contains(x)));
        let included: Vec<ClientId> = self.accepted.keys().copied().collect();
        assert_eq!(
            output.included, included,
            "included clients are not those whose masked input was accepted"
        );
        let mut expected = vec![0u64; self.params.vector_len()];
        for u in &output.included {
            // A client that never computed a masked input (the server took a forged one in
            // its name) contributes an unknown value: nothing to check.
            let Some((c, honest)) = self
                .clients
                .get(u)
                .and_then(|c| c.masked.as_ref().map(|y| (c, y)))
            else {
                return;
            };
            let Some(accepted) = self.accepted.get(u) else {
                return;
            };
            for (((e, x), a), y) in expected.iter_mut().zip(&c.input).zip(accepted).zip(honest) {
                *e = m.add(*e, m.add(*x, m.sub(*a, *y)));
            }
        }
        assert_eq!(output.sum, expected, "wrong sum for {:?}", output.included);
    }
}
