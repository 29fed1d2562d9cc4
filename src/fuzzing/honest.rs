//! The fuzz harness: honest clients.

#[allow(clippy::wildcard_imports)]
use super::*;

/// One honest client, driven through the byte-level [`ClientSession`].
pub(super) struct Honest {
    pub(super) id: ClientId,
    pub(super) params: Params,
    pub(super) limits: Limits,
    /// `None` once it has returned an error (the session is then over).
    pub(super) session: Option<ClientSession>,
    pub(super) rng: ChaCha20Rng,
    pub(super) input: Vec<u64>,
    /// `y_u`, once it sent it.
    pub(super) masked: Option<Vec<u64>>,
    /// Its advertisement.
    pub(super) advert: msg::AdvertiseKeys,
    /// Its latest reply, not yet delivered.
    pub(super) pending: Option<Vec<u8>>,
    /// Dropped out: it no longer reacts.
    pub(super) silent: bool,
}

impl Honest {
    pub(super) fn new(params: &Params, id: ClientId) -> Self {
        let mut rng = rng_of(params, id);
        let identity = (params.threat_model() == ThreatModel::Malicious)
            .then(|| client::Identity::new(identity_of(id), pki_of(params)));
        let input = input_of(params, id);
        let (session, advert) = ClientSession::start(params, id, identity, &mut rng);
        let limits = Limits::for_params(params);
        let Ok(ClientMessage::AdvertiseKeys(decoded)) = wire::from_bytes(&advert, &limits) else {
            panic!("a client's advertisement does not decode");
        };
        Self {
            id,
            params: params.clone(),
            limits,
            session: Some(session),
            rng,
            input,
            masked: None,
            pending: Some(advert),
            advert: decoded,
            silent: false,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        matches!(self.session, Some(ClientSession::Done(_)))
    }

    /// Hands the client the bytes of one server message; on success its reply is `pending`.
    /// An error ends its session.
    pub(super) fn handle(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let step = if session.needs_input() {
            session.handle_with_input(&self.params, bytes, &self.input, &mut self.rng)
        } else {
            session.handle(&self.params, bytes, &mut self.rng)
        };
        let (session, reply) = match step {
            Ok(next) => next,
            Err(e) => {
                let _ = e.to_string();
                if let Error::Misbehaved {
                    what: Misbehavior::Malformed(d),
                    ..
                } = &e
                {
                    let decoded = wire::from_bytes::<ServerMessage>(bytes, &self.limits);
                    assert_eq!(decoded.err().as_ref(), Some(d), "Malformed for good bytes");
                }
                return Err(e);
            }
        };
        self.session = Some(session);
        self.check_reply(bytes, &reply);
        self.pending = Some(reply);
        Ok(())
    }

    /// Properties of every reply, whatever the server sent: it decodes under the session's
    /// limits, it is from this client, and its lists keep their security properties.
    pub(super) fn check_reply(&mut self, request: &[u8], reply: &[u8]) {
        let id = self.id;
        let reply = wire::from_bytes::<ClientMessage>(reply, &self.limits);
        let Ok(reply) = reply else {
            panic!("a client's reply does not decode: {reply:?}");
        };
        assert_eq!(reply.sender(), id);
        let request = wire::from_bytes::<ServerMessage>(request, &self.limits);
        match (reply, request) {
            (ClientMessage::ShareKeys(out), Ok(ServerMessage::Roster(_))) => {
                let mut recipients = BTreeSet::new();
                for s in &out.sealed {
                    assert_eq!(s.sender, id);
                    assert_ne!(s.recipient, id, "a client seals shares to itself");
                    assert!(
                        recipients.insert(s.recipient),
                        "two sealed pairs to one peer"
                    );
                }
            }
            (ClientMessage::MaskedInput(out), Ok(ServerMessage::SharesDelivery(_))) => {
                assert_eq!(out.masked.len(), self.params.vector_len());
                self.masked = Some(out.masked);
            }
            (ClientMessage::ConsistencySignature(_), Ok(ServerMessage::ConsistencyRequest(_))) => {}
            (ClientMessage::UnmaskingResponse(out), Ok(ServerMessage::UnmaskingRequest(r))) => {
                check_unmasking_response(id, &r, &out);
            }
            (reply, request) => panic!("reply {:?} to {request:?}", reply.kind()),
        }
    }
}

/// SECURITY properties of a reply to an unmasking request: no peer has both of its shares
/// revealed, the client never reveals its own key share, and it reveals only what was asked.
pub(super) fn check_unmasking_response(
    id: ClientId,
    request: &msg::UnmaskingRequest,
    out: &msg::UnmaskingResponse,
) {
    let self_mask: BTreeSet<ClientId> = out.self_mask_shares.iter().map(|(u, _)| *u).collect();
    let key: BTreeSet<ClientId> = out.key_shares.iter().map(|(u, _)| *u).collect();
    assert_eq!(
        self_mask.len(),
        out.self_mask_shares.len(),
        "repeated owner"
    );
    assert_eq!(key.len(), out.key_shares.len(), "repeated owner");
    assert!(
        self_mask.is_disjoint(&key),
        "both shares of one peer revealed"
    );
    assert!(!key.contains(&id), "own key share revealed");
    assert!(self_mask.iter().all(|u| request.survivors.contains(u)));
    assert!(key.iter().all(|u| request.dropped.contains(u)));
}
