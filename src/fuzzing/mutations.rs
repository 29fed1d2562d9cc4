//! The fuzz harness: how messages are changed between parties.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) struct Ctx<'a> {
    pub(super) n: usize,
    pub(super) modulus: Modulus,
    pub(super) keys: &'a [PublicKey],
}

impl Ctx<'_> {
    pub(super) fn id(&self, inp: &mut Input<'_>) -> ClientId {
        pick_id(inp, self.n)
    }

    /// A public key: one of the session's, one of small order, or any 32 bytes with the top
    /// bit clear.
    pub(super) fn key(&self, inp: &mut Input<'_>) -> PublicKey {
        match inp.byte() % 3 {
            0 if !self.keys.is_empty() => {
                let i = inp.below(self.keys.len());
                self.keys.get(i).copied().unwrap_or(PublicKey([0; 32]))
            }
            1 => {
                // The crate's own blocklist, so the fuzzer tries exactly what it rejects.
                let i = inp.below(SMALL_ORDER.len());
                PublicKey(SMALL_ORDER.get(i).copied().unwrap_or([0; 32]))
            }
            _ => {
                let mut k = inp.array::<32>();
                if let Some(last) = k.last_mut() {
                    *last &= 0x7f;
                }
                PublicKey(k)
            }
        }
    }
}

/// One structural change to a list: remove, duplicate, swap, insert a fresh item, truncate
/// or reverse.
pub(super) fn mutate_list<T: Clone>(
    list: &mut Vec<T>,
    inp: &mut Input<'_>,
    fresh: impl FnOnce(&mut Input<'_>) -> T,
) {
    let len = list.len();
    let i = inp.below(len.max(1));
    match inp.byte() % 6 {
        0 if i < len => {
            list.remove(i);
        }
        1 => {
            if let Some(x) = list.get(i).cloned() {
                list.insert(i, x);
            }
        }
        2 => {
            let j = inp.below(len.max(1));
            if i < len && j < len {
                list.swap(i, j);
            }
        }
        3 => {
            let x = fresh(inp);
            list.insert(i.min(len), x);
        }
        4 => list.truncate(i),
        _ => list.reverse(),
    }
}

pub(super) fn flip_session(session: &mut SessionId, inp: &mut Input<'_>) {
    let i = inp.below(32);
    if let Some(b) = session.0.get_mut(i) {
        *b ^= inp.byte().max(1);
    }
}

pub(super) fn flip_byte(bytes: &mut [u8], inp: &mut Input<'_>) {
    let i = inp.below(bytes.len());
    if let Some(b) = bytes.get_mut(i) {
        *b ^= inp.byte().max(1);
    }
}

/// A few byte-level changes to an encoded message: flips, overwrites (counts, kinds),
/// truncation, insertion.
pub(super) fn flip_bytes(bytes: &mut Vec<u8>, inp: &mut Input<'_>) {
    for _ in 0..=inp.byte() % 4 {
        let len = bytes.len();
        let at = if len == 0 {
            0
        } else {
            usize::from(inp.u16()) % len
        };
        match inp.byte() % 5 {
            0 | 1 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= inp.byte().max(1);
                }
            }
            2 => bytes.truncate(at),
            3 => bytes.insert(at, inp.byte()),
            _ => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = inp.byte();
                }
            }
        }
    }
}

pub(super) fn mutate_signature(signature: &mut Option<Signature>, inp: &mut Input<'_>) {
    match (inp.byte() % 3, signature.as_mut()) {
        (0, _) => *signature = None,
        (1, Some(s)) => flip_byte(&mut s.0, inp),
        _ => *signature = Some(Signature(inp.array())),
    }
}

pub(super) fn mutate_advert(a: &mut msg::AdvertiseKeys, inp: &mut Input<'_>, ctx: &Ctx<'_>) {
    match inp.byte() % 8 {
        0 => a.sender = ctx.id(inp),
        1 => core::mem::swap(&mut a.share_public_key, &mut a.mask_public_key),
        2 => a.share_public_key = a.mask_public_key,
        3 => a.share_public_key = ctx.key(inp),
        4 => a.mask_public_key = ctx.key(inp),
        5 => flip_byte(&mut a.self_mask_commitment, inp),
        6 => mutate_signature(&mut a.signature, inp),
        _ => flip_session(&mut a.session, inp),
    }
}

pub(super) fn sealed(
    sender: ClientId,
    recipient: ClientId,
    inp: &mut Input<'_>,
) -> msg::SealedShares {
    msg::SealedShares {
        sender,
        recipient,
        ciphertext: inp.array::<SEALED_SHARES_LEN>(),
    }
}

/// Changes the sealed pairs of a ShareKeys (`fixed` is the sender) or a SharesDelivery
/// (`fixed` is the recipient).
pub(super) fn mutate_sealed(
    list: &mut Vec<msg::SealedShares>,
    fixed: ClientId,
    delivery: bool,
    inp: &mut Input<'_>,
    ctx: &Ctx<'_>,
) {
    let i = inp.below(list.len());
    match inp.byte() % 4 {
        0 => mutate_list(list, inp, |inp| {
            let other = ctx.id(inp);
            if delivery {
                sealed(other, fixed, inp)
            } else {
                sealed(fixed, other, inp)
            }
        }),
        1 => {
            let other = ctx.id(inp);
            if let Some(s) = list.get_mut(i) {
                if delivery {
                    s.sender = other;
                } else {
                    s.recipient = other;
                }
            }
        }
        2 => {
            let j = inp.below(list.len());
            let cj = list.get(j).map(|s| s.ciphertext);
            if let (Some(c), Some(s)) = (cj, list.get_mut(i)) {
                s.ciphertext = c;
            }
        }
        _ => {
            if let Some(s) = list.get_mut(i) {
                flip_byte(&mut s.ciphertext, inp);
            }
        }
    }
}

pub(super) fn mutate_shares(
    list: &mut Vec<(ClientId, SecretScalar)>,
    inp: &mut Input<'_>,
    ctx: &Ctx<'_>,
) {
    let mut plain: Vec<(ClientId, [u8; 32])> =
        list.iter().map(|(u, s)| (*u, *s.to_bytes())).collect();
    let i = inp.below(plain.len());
    match inp.byte() % 4 {
        0 | 1 => mutate_list(&mut plain, inp, |inp| (ctx.id(inp), inp.array())),
        2 => {
            let u = ctx.id(inp);
            if let Some(s) = plain.get_mut(i) {
                s.0 = u;
            }
        }
        _ => {
            let j = inp.below(plain.len());
            let value = match inp.byte() % 3 {
                0 => plain.get(j).map_or([0; 32], |s| s.1),
                1 => [0; 32],
                _ => inp.array(),
            };
            if let Some(s) = plain.get_mut(i) {
                s.1 = value;
            }
        }
    }
    *list = plain
        .into_iter()
        .map(|(u, b)| (u, SecretScalar(Scalar::from_bytes_mod_order(b))))
        .collect();
}

/// One structural change to a client message, chosen by the input.
pub(super) fn mutate_client(m: &mut ClientMessage, inp: &mut Input<'_>, ctx: &Ctx<'_>) {
    match m {
        ClientMessage::AdvertiseKeys(a) => mutate_advert(a, inp, ctx),
        ClientMessage::ShareKeys(s) => match inp.byte() % 4 {
            0 => s.sender = ctx.id(inp),
            1 => flip_session(&mut s.session, inp),
            _ => mutate_sealed(&mut s.sealed, s.sender, false, inp, ctx),
        },
        ClientMessage::MaskedInput(y) => {
            let i = inp.below(y.masked.len());
            match inp.byte() % 4 {
                0 => y.sender = ctx.id(inp),
                1 => flip_session(&mut y.session, inp),
                2 => {
                    let d = reduce(ctx.modulus, inp.u64());
                    for x in &mut y.masked {
                        *x = ctx.modulus.add(*x, d);
                    }
                }
                _ => {
                    let v = reduce(ctx.modulus, inp.u64());
                    if let Some(x) = y.masked.get_mut(i) {
                        *x = v;
                    }
                }
            }
        }
        ClientMessage::ConsistencySignature(c) => match inp.byte() % 3 {
            0 => c.sender = ctx.id(inp),
            1 => flip_session(&mut c.session, inp),
            _ => flip_byte(&mut c.signature.0, inp),
        },
        ClientMessage::UnmaskingResponse(r) => match inp.byte() % 6 {
            0 => r.sender = ctx.id(inp),
            1 => flip_session(&mut r.session, inp),
            2 => core::mem::swap(&mut r.self_mask_shares, &mut r.key_shares),
            3 => {
                // Move one share to the other list.
                let i = inp.below(r.self_mask_shares.len());
                if i < r.self_mask_shares.len() {
                    let s = r.self_mask_shares.remove(i);
                    r.key_shares.push(s);
                } else if !r.key_shares.is_empty() {
                    let s = r.key_shares.remove(0);
                    r.self_mask_shares.push(s);
                }
            }
            4 => mutate_shares(&mut r.self_mask_shares, inp, ctx),
            _ => mutate_shares(&mut r.key_shares, inp, ctx),
        },
    }
}

/// One structural change to a server message, chosen by the input.
pub(super) fn mutate_server(m: &mut ServerMessage, inp: &mut Input<'_>, ctx: &Ctx<'_>) {
    match m {
        ServerMessage::Roster(r) => {
            let i = inp.below(r.entries.len());
            match inp.byte() % 5 {
                0 => {
                    let j = inp.below(r.entries.len());
                    let copy = r.entries.get(j).cloned();
                    mutate_list(&mut r.entries, inp, |inp| {
                        let mut e = copy.unwrap_or(msg::AdvertiseKeys {
                            session: r.session,
                            sender: ClientId(0),
                            share_public_key: PublicKey([9; 32]),
                            mask_public_key: PublicKey([10; 32]),
                            self_mask_commitment: [0; 32],
                            signature: None,
                        });
                        e.sender = ctx.id(inp);
                        e
                    });
                }
                1 => flip_session(&mut r.session, inp),
                _ => {
                    if let Some(e) = r.entries.get_mut(i) {
                        mutate_advert(e, inp, ctx);
                    }
                }
            }
        }
        ServerMessage::SharesDelivery(d) => match inp.byte() % 4 {
            0 => d.recipient = ctx.id(inp),
            1 => flip_session(&mut d.session, inp),
            _ => mutate_sealed(&mut d.sealed, d.recipient, true, inp, ctx),
        },
        ServerMessage::ConsistencyRequest(c) => match inp.byte() % 8 {
            0 => c.recipient = ctx.id(inp),
            1 => flip_session(&mut c.session, inp),
            2 | 3 => mutate_list(&mut c.survivors, inp, |inp| ctx.id(inp)),
            // A slice: its dropped members, a status moved to the other list, the proof's
            // bytes, or the slice removed (a whole list to a client that holds a view).
            4 => match c.slice.as_mut() {
                Some(slice) => mutate_list(&mut slice.dropped, inp, |inp| ctx.id(inp)),
                None => mutate_list(&mut c.survivors, inp, |inp| ctx.id(inp)),
            },
            5 => {
                if let Some(slice) = c.slice.as_mut() {
                    let i = inp.below(c.survivors.len());
                    if i < c.survivors.len() {
                        let v = c.survivors.remove(i);
                        slice.dropped.push(v);
                    } else if !slice.dropped.is_empty() {
                        let v = slice.dropped.remove(0);
                        c.survivors.push(v);
                    }
                }
            }
            6 => {
                if let Some(slice) = c.slice.as_mut() {
                    flip_byte(&mut slice.proof, inp);
                }
            }
            _ => c.slice = None,
        },
        ServerMessage::UnmaskingRequest(u) => match inp.byte() % 9 {
            0 => u.recipient = ctx.id(inp),
            1 => flip_session(&mut u.session, inp),
            2 | 3 => mutate_list(&mut u.survivors, inp, |inp| ctx.id(inp)),
            4 | 5 => mutate_list(&mut u.dropped, inp, |inp| ctx.id(inp)),
            6 => {
                // Move one id to the other list.
                let i = inp.below(u.survivors.len());
                if i < u.survivors.len() {
                    let v = u.survivors.remove(i);
                    u.dropped.push(v);
                } else if !u.dropped.is_empty() {
                    let v = u.dropped.remove(0);
                    u.survivors.push(v);
                }
            }
            7 => mutate_list(&mut u.signatures, inp, |inp| {
                (ctx.id(inp), Signature(inp.array()))
            }),
            _ => {
                let i = inp.below(u.signatures.len());
                let signer = ctx.id(inp);
                if let Some(s) = u.signatures.get_mut(i) {
                    if inp.byte() & 1 == 0 {
                        s.0 = signer;
                    } else {
                        flip_byte(&mut s.1.0, inp);
                    }
                }
            }
        },
    }
}
