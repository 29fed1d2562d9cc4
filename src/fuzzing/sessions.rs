//! The fuzz harness: the fixed sessions the targets run.

#[allow(clippy::wildcard_imports)]
use super::*;

/// How many fixed sessions [`session_params`] knows.
pub const SESSIONS: usize = 7;
/// How many parameter sets [`decode_params`] knows (the sessions, then decoding-only ones).
pub const DECODE_PARAMS: usize = SESSIONS + 4;

pub(super) fn p2(bits: u32) -> Modulus {
    Modulus::power_of_two(bits).expect("bits in 1..=64")
}

pub(super) fn modulus(m: u64) -> Modulus {
    Modulus::new(m).expect("m >= 2")
}

/// The small fixed sessions the session targets run (`index % SESSIONS`). The first three are
/// those of the protocol test vectors (`tests/vectors/v3/`): same ids, sizes and moduli.
#[must_use]
pub fn session_params(index: usize) -> Params {
    let b = |sid: u8, n, m, d| Params::builder(SessionId([sid; 32]), n, m, d);
    match index % SESSIONS {
        0 => b(0x11, 3, p2(16), 5).threshold(2).build(),
        1 => b(0x22, 6, modulus(1000), 4).neighbours(2).build(),
        2 => b(0x33, 4, p2(10), 3)
            .threat_model(ThreatModel::Malicious)
            .build(),
        3 => b(0x44, 5, modulus(7), 3).build(),
        // t = n: every share holder is needed.
        4 => b(0x55, 4, p2(64), 2).threshold(4).build(),
        5 => b(0x66, 7, modulus(u64::MAX), 2).neighbours(4).build(),
        _ => b(0x77, 6, modulus(12_289), 2)
            .neighbours(4)
            .threat_model(ThreatModel::Malicious)
            .build(),
    }
    .expect("valid fixed parameters")
}

/// The parameters the decoding targets decode under (`selector % DECODE_PARAMS`): the
/// sessions of [`session_params`], then a few shapes that only decoding needs (one-bit and
/// two-bit elements, a 34-bit odd modulus, the largest client count).
#[must_use]
pub fn decode_params(selector: u8) -> Params {
    let index = usize::from(selector) % DECODE_PARAMS;
    let sid = SessionId([0x99; 32]);
    let extra = match index.checked_sub(SESSIONS) {
        None => return session_params(index),
        Some(0) => Params::new(sid, 2, 2, p2(1), 17),
        Some(1) => Params::new(sid, 3, 2, modulus(3), 9),
        Some(2) => Params::new(sid, 16, 9, modulus((1 << 33) + 1), 6),
        Some(_) => Params::new(sid, crate::params::MAX_CLIENTS, 32_769, p2(32), 1),
    };
    extra.expect("valid fixed parameters")
}

pub(super) fn ids(params: &Params) -> Vec<ClientId> {
    (1..=params.clients())
        .filter_map(|u| u32::try_from(u).ok())
        .map(ClientId)
        .collect()
}

pub(super) fn reduce(m: Modulus, x: u64) -> u64 {
    u64::try_from(u128::from(x) % m.value()).unwrap_or(x)
}

/// The input of client `u`: element `j` is `(u * 7919 + j * 104729 + 1) mod m`.
pub(super) fn input_of(params: &Params, u: ClientId) -> Vec<u64> {
    let m = params.modulus();
    (0..params.vector_len())
        .map(|j| {
            let j = u64::try_from(j).unwrap_or(0);
            let x = u128::from(u.0) * 7919 + u128::from(j) * 104_729 + 1;
            u64::try_from(x % m.value()).unwrap_or(0)
        })
        .collect()
}

pub(super) fn rng_of(params: &Params, u: ClientId) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64((u64::from(params.session().0[0]) << 32) | u64::from(u.0))
}

pub(super) fn identity_of(u: ClientId) -> IdentityKey {
    let mut seed = [0x1d; 32];
    if let Some(head) = seed.first_chunk_mut::<4>() {
        *head = u.to_be_bytes();
    }
    IdentityKey::from_seed(&seed)
}

pub(super) fn pki_of(params: &Params) -> Pki {
    Pki::new(
        ids(params)
            .into_iter()
            .map(|u| (u, identity_of(u).public_key())),
    )
}

/// A client id chosen by the input: mostly one of the session's, sometimes one next to them
/// (0, `n + 1`) or far away.
pub(super) fn pick_id(inp: &mut Input<'_>, n: usize) -> ClientId {
    let b = inp.byte();
    match b {
        0..=249 => ClientId(u32::try_from(usize::from(b) % (n + 2)).unwrap_or(0)),
        250..=252 => ClientId(u32::MAX - u32::from(b - 250)),
        _ => ClientId(u32::from(inp.u16()) << 8),
    }
}
