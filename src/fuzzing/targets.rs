//! The fuzz harness: the session targets.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Target `server_session`: a [`ServerSession`] fed arbitrary client messages, dropouts and
/// round closes, with honest clients ([`ClientSession`]) running alongside.
///
/// The first byte picks the session ([`session_params`]; bit 4: the server verifies
/// signatures against the PKI). Then each op byte (`% 8`): 0 close the round, 1 drop a client,
/// 2 deliver one honest client's pending message, 3 deliver all of them, 4 deliver raw bytes
/// as from a chosen id, 5 deliver an honest message with byte-level changes, 6 with one
/// structural change, 7 replay any earlier honest message. When the input ends, every client
/// delivers and rounds close until the session ends. It never panics; every message the
/// server sends is well formed; and whenever it completes, its output is the sum of the
/// inputs of the clients it says it included.
pub fn server_session(data: &[u8]) {
    let mut inp = Input::new(data);
    let selector = inp.byte();
    let params = session_params(usize::from(selector & 0x0f));
    let mut world = World::new(&params, selector & 0x10 != 0);
    let no_ops = inp.is_empty();
    let n = params.clients();
    for _ in 0..96 {
        if inp.is_empty() || world.server.is_none() {
            break;
        }
        match inp.byte() % 8 {
            0 => world.close(),
            1 => world.drop_client(pick_id(&mut inp, n)),
            2 => world.deliver_pending(pick_id(&mut inp, n)),
            3 => world.deliver_all(),
            4 => {
                let from = pick_id(&mut inp, n);
                let bytes = inp.chunk();
                world.deliver(from, bytes);
            }
            op @ (5 | 6) => {
                let owner = pick_id(&mut inp, n);
                let from = if inp.byte() & 1 == 0 {
                    owner
                } else {
                    pick_id(&mut inp, n)
                };
                let source = world
                    .clients
                    .get(&owner)
                    .and_then(|c| c.pending.clone())
                    .or_else(|| {
                        let i = inp.below(world.history.len());
                        world.history.get(i).cloned()
                    });
                let Some(mut bytes) = source else { continue };
                if op == 5 {
                    flip_bytes(&mut bytes, &mut inp);
                } else if let Ok(mut m) = wire::from_bytes::<ClientMessage>(&bytes, &world.limits) {
                    mutate_client(&mut m, &mut inp, &world.ctx());
                    bytes = m.to_bytes(params.modulus());
                }
                world.deliver(from, &bytes);
            }
            _ => {
                let from = pick_id(&mut inp, n);
                let i = inp.below(world.history.len());
                if let Some(bytes) = world.history.get(i).cloned() {
                    world.deliver(from, &bytes);
                }
            }
        }
    }
    world.run_honestly();
    world.check_outcome();
    if no_ops {
        let output = world
            .outcome
            .as_ref()
            .map(|o| o.as_ref().map(|o| &o.included));
        assert_eq!(
            output,
            Some(Ok(&ids(&params))),
            "an honest session did not complete"
        );
    }
}

/// The server messages of an honest run of session `index` in which client `dropped` (none
/// if 0) goes silent before sending its masked input, each once (the roster once for all its
/// recipients), in the order the server sent them. The run is on the harness, each client
/// drawing from its own generator as in [`Honest`], so the messages are those an honest
/// [`World`] would send.
pub(super) fn honest_transcript(index: usize, dropped: usize) -> Vec<Sent> {
    let params = session_params(index);
    let sent = core::cell::RefCell::new(Vec::<Sent>::new());
    let inputs = ids(&params)
        .into_iter()
        .map(|u| PlainInput::new(input_of(&params, u)))
        .collect();
    let rngs = ids(&params)
        .into_iter()
        .map(|u| (u, rng_of(&params, u)))
        .collect();
    let mut session = Harness::new(&params, inputs, 0)
        .with_client_rngs(rngs)
        .on_server_message(|_, _, m| {
            let mut sent = sent.borrow_mut();
            if !sent.iter().any(|s| s.message == *m) {
                sent.push(Sent {
                    to: recipients(m),
                    message: m.clone(),
                    bytes: wire::to_bytes(&*m),
                });
            }
            Fate::Deliver
        });
    if params.threat_model() == ThreatModel::Malicious {
        session = session.with_identities(identity_of);
    }
    if let Some(u) = dropped
        .checked_sub(1)
        .and_then(|u| ids(&params).get(u).copied())
    {
        session = session.drop_from(u, Round::MaskedInput);
    }
    let outcome = session.run();
    drop(session);
    match outcome {
        Ok(output) => {
            let m = params.modulus();
            let mut expected = vec![0u64; params.vector_len()];
            for &u in &output.included {
                for (e, x) in expected.iter_mut().zip(input_of(&params, u)) {
                    *e = m.add(*e, x);
                }
            }
            assert_eq!(output.sum, expected, "wrong sum for {:?}", output.included);
        }
        Err(e) => assert!(dropped != 0, "honest session failed: {e}"),
    }
    sent.into_inner()
}

#[cfg(feature = "std")]
pub(super) fn transcript(index: usize, dropped: usize) -> Vec<Sent> {
    type Cache = std::sync::OnceLock<Vec<Vec<Vec<Sent>>>>;
    static CACHE: Cache = std::sync::OnceLock::new();
    let all = CACHE.get_or_init(|| {
        (0..SESSIONS)
            .map(|i| {
                (0..=session_params(i).clients())
                    .map(|d| honest_transcript(i, d))
                    .collect()
            })
            .collect()
    });
    all.get(index)
        .and_then(|s| s.get(dropped))
        .cloned()
        .unwrap_or_default()
}

#[cfg(not(feature = "std"))]
pub(super) fn transcript(index: usize, dropped: usize) -> Vec<Sent> {
    honest_transcript(index, dropped)
}

/// The message an honest server sends `c` next, from the transcript.
pub(super) fn honest_next<'t>(c: &Honest, transcript: &'t [Sent]) -> Option<&'t Sent> {
    transcript.iter().find(|s| {
        s.to.contains(&c.id)
            && matches!(
                (c.stage, &s.message),
                (Some(Stage::AdvertiseKeys), ServerMessage::Roster(_))
                    | (Some(Stage::ShareKeys), ServerMessage::SharesDelivery(_))
                    | (
                        Some(Stage::MaskedInput),
                        ServerMessage::ConsistencyRequest(_) | ServerMessage::UnmaskingRequest(_)
                    )
                    | (Some(Stage::Consistency), ServerMessage::UnmaskingRequest(_))
            )
    })
}

/// Target `client_session`: one honest [`ClientSession`] fed arbitrary server messages at
/// arbitrary points.
///
/// The first byte picks the session ([`session_params`]), the second the client under test,
/// the third which other client drops before its masked input in the honest run the server
/// messages come from. Then each op byte (`% 6`): 0 the honest next message, 1 raw bytes,
/// 2 any message of the honest run (another round's, another client's), 3 a message with
/// byte-level changes, 4 and 5 one with a structural change. When the input ends, the client
/// gets the honest next messages until it is done or refuses. It never panics, its replies
/// decode and keep their security properties, and with no changes it completes.
pub fn client_session(data: &[u8]) {
    let mut inp = Input::new(data);
    let index = usize::from(inp.byte()) % SESSIONS;
    let params = session_params(index);
    let n = params.clients();
    let me = ids(&params)
        .get(inp.below(n))
        .copied()
        .unwrap_or(ClientId(1));
    let dropped = inp.below(n + 1);
    let dropped = if usize::try_from(me.0).ok() == Some(dropped) {
        0
    } else {
        dropped
    };
    let transcript = transcript(index, dropped);
    let keys: Vec<PublicKey> = transcript
        .iter()
        .filter_map(|s| match &s.message {
            ServerMessage::Roster(r) => Some(r),
            _ => None,
        })
        .flat_map(|r| r.entries.iter())
        .flat_map(|e| [e.share_public_key, e.mask_public_key])
        .collect();
    let ctx = Ctx {
        n,
        modulus: params.modulus(),
        keys: &keys,
    };
    let mut c = Honest::new(&params, me);
    let mut deviated = false;
    for _ in 0..48 {
        if inp.is_empty() || c.stage.is_none() {
            break;
        }
        let op = inp.byte() % 6;
        deviated |= op != 0;
        let base = if op == 2 || (op != 0 && inp.byte() & 3 == 0) {
            transcript.get(inp.below(transcript.len()))
        } else {
            honest_next(&c, &transcript)
        };
        let bytes = match op {
            0 | 2 => base.map(|s| s.bytes.clone()),
            1 => Some(inp.chunk().to_vec()),
            3 => base.map(|s| {
                let mut bytes = s.bytes.clone();
                flip_bytes(&mut bytes, &mut inp);
                bytes
            }),
            _ => base.map(|s| {
                let mut m = s.message.clone();
                mutate_server(&mut m, &mut inp, &ctx);
                wire::to_bytes(&m)
            }),
        };
        if let Some(bytes) = bytes {
            let _ = c.handle(&bytes);
        }
    }
    for _ in 0..5 {
        let Some(s) = honest_next(&c, &transcript) else {
            break;
        };
        if c.handle(&s.bytes).is_err() {
            break;
        }
    }
    let complete = transcript
        .iter()
        .any(|s| s.to.contains(&me) && matches!(s.message, ServerMessage::UnmaskingRequest(_)));
    if !deviated && complete {
        assert!(
            c.is_done(),
            "an honest client did not complete an honest session"
        );
    }
}
