//! The version-3 wire codec: round trips of every message type from real sessions, one
//! `rejects_*` test per class of malformed input, property tests, and the traffic formulas of
//! `docs/WIRE.md` checked against the codec and the simulator.

#[path = "vectors/session.rs"]
mod session;

use proptest::prelude::*;
use secagg::protocol::messages as msg;
use secagg::sim::Simulation;
use secagg::wire::{
    self, ClientMessage, DecodeError, DecodeWith, Kind, Limits, PackedMaskedInput, ServerMessage,
    max_roster_proof_len,
};
use secagg::{ClientId, Modulus, Params, PlainInput, Round, SessionId, ThreatModel};
use session::{Spec, Transcript};

/// Decodes `bytes` as whichever message its kind byte names and re-encodes it.
fn reencode(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, DecodeError> {
    match bytes.get(1).copied().and_then(Kind::from_byte) {
        Some(kind) if kind.is_from_client() => {
            wire::from_bytes::<ClientMessage>(bytes, limits).map(|m| m.to_bytes(limits.modulus))
        }
        _ => wire::from_bytes::<ServerMessage>(bytes, limits).map(|m| wire::to_bytes(&m)),
    }
}

/// Decodes `bytes` as the message type of `kind`, discarding the value.
fn decode_as(kind: Kind, bytes: &[u8], limits: &Limits) -> Result<(), DecodeError> {
    fn d<M: DecodeWith<Limits>>(bytes: &[u8], limits: &Limits) -> Result<(), DecodeError> {
        wire::from_bytes::<M>(bytes, limits).map(drop)
    }
    match kind {
        Kind::AdvertiseKeys => d::<msg::AdvertiseKeys>(bytes, limits),
        Kind::Roster => d::<msg::Roster>(bytes, limits),
        Kind::ShareKeys => d::<msg::ShareKeys>(bytes, limits),
        Kind::SharesDelivery => d::<msg::SharesDelivery>(bytes, limits),
        Kind::MaskedInput => d::<msg::MaskedInput>(bytes, limits),
        Kind::ConsistencyRequest => d::<msg::ConsistencyRequest>(bytes, limits),
        Kind::ConsistencySignature => d::<msg::ConsistencySignature>(bytes, limits),
        Kind::UnmaskingRequest => d::<msg::UnmaskingRequest>(bytes, limits),
        Kind::UnmaskingResponse => d::<msg::UnmaskingResponse>(bytes, limits),
    }
}

fn kind_of(bytes: &[u8]) -> Kind {
    Kind::from_byte(bytes[1]).unwrap()
}

fn all_specs() -> Vec<Spec> {
    vec![
        session::complete_n3(),
        session::sparse_n6_k2(),
        session::malicious_n4(),
    ]
}

fn transcripts() -> Vec<Transcript> {
    all_specs().iter().map(session::run).collect()
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

/// Every message of the three vector sessions (complete graph, Harary graph, malicious
/// server) went through `to_bytes` / `from_bytes` inside `session::run`, which checks that it
/// decodes to itself and has the length `Encode::encoded_len` computes; here the envelopes
/// must re-encode every one of them unchanged.
#[test]
fn round_trips_every_message_of_real_sessions() {
    for t in transcripts() {
        let mut kinds = std::collections::BTreeSet::new();
        for (name, bytes) in &t.messages {
            kinds.insert(kind_of(bytes));
            assert_eq!(reencode(bytes, &t.limits).as_ref(), Ok(bytes), "{name}");
        }
        assert!(kinds.len() >= 7, "{kinds:?}");
    }
}

/// Larger sessions over edge moduli: 1 bit, 64 bits, `2^64 - 1`, 3; SecAgg and SecAgg+,
/// both threat models, with a dropout.
#[test]
fn round_trips_across_moduli_graphs_and_threat_models() {
    let moduli = [
        Modulus::power_of_two(1).unwrap(),
        Modulus::power_of_two(64).unwrap(),
        Modulus::new(u64::MAX).unwrap(),
        Modulus::new(3).unwrap(),
        Modulus::new(1_000_003).unwrap(),
    ];
    for (i, m) in (0u8..).zip(moduli) {
        for threat in [ThreatModel::HonestButCurious, ThreatModel::Malicious] {
            for neighbours in [None, Some(4)] {
                let mut builder =
                    Params::builder(SessionId([i; 32]), 10, m, 37).threat_model(threat);
                if let Some(k) = neighbours {
                    builder = builder.neighbours(k);
                }
                let spec = Spec {
                    params: builder.build().unwrap(),
                    seed: 100 + u64::from(i),
                    drop_before_masked_input: vec![ClientId(7)],
                };
                let t = session::run(&spec);
                for (name, bytes) in &t.messages {
                    assert_eq!(reencode(bytes, &t.limits).as_ref(), Ok(bytes), "{name}");
                }
            }
        }
    }
}

/// The byte count of each message as a formula of its list lengths (`docs/WIRE.md`).
fn layout_len(bytes: &[u8], limits: &Limits) -> usize {
    let d = limits.vector_len;
    let b = limits.modulus.bits() as usize;
    match reencode(bytes, limits).map(|_| ()) {
        Ok(()) => {}
        Err(e) => panic!("{e}"),
    }
    if kind_of(bytes).is_from_client() {
        match wire::from_bytes::<ClientMessage>(bytes, limits).unwrap() {
            ClientMessage::AdvertiseKeys(m) => 135 + 64 * usize::from(m.signature.is_some()),
            ClientMessage::ShareKeys(m) => {
                43 + 84 * m.sealed.len() + 64 * usize::from(m.roster_signature.is_some())
            }
            ClientMessage::MaskedInput(_) => 70 + (d * b).div_ceil(8),
            ClientMessage::ConsistencySignature(_) => 102,
            ClientMessage::UnmaskingResponse(m) => {
                46 + 36 * (m.self_mask_shares.len() + m.key_shares.len())
            }
        }
    } else {
        match wire::from_bytes::<ServerMessage>(bytes, limits).unwrap() {
            ServerMessage::Roster(m) => {
                39 + m
                    .entries
                    .iter()
                    .map(|e| 101 + 64 * usize::from(e.signature.is_some()))
                    .sum::<usize>()
                    + m.slice.as_ref().map_or(0, |s| 8 + s.proof.len())
            }
            ServerMessage::SharesDelivery(m) => {
                46 + 84 * m.sealed.len() + 68 * m.roster_signatures.len()
            }
            ServerMessage::ConsistencyRequest(m) => {
                43 + 4 * m.survivors.len()
                    + m.slice
                        .as_ref()
                        .map_or(0, |s| 8 + 4 * s.dropped.len() + s.proof.len())
            }
            ServerMessage::UnmaskingRequest(m) => {
                50 + 4 * (m.survivors.len() + m.dropped.len()) + 68 * m.signatures.len()
            }
        }
    }
}

#[test]
fn message_sizes_follow_the_documented_layouts() {
    for t in transcripts() {
        for (name, bytes) in &t.messages {
            assert_eq!(bytes.len(), layout_len(bytes, &t.limits), "{name}");
            assert!(bytes.len() <= t.limits.max_message_bytes, "{name}");
        }
    }
}

/// The header is `version 3 ‖ kind ‖ session id` and the kinds alternate direction.
#[test]
fn every_message_starts_with_version_kind_and_session() {
    for (spec, t) in all_specs().iter().zip(transcripts()) {
        for (name, bytes) in &t.messages {
            assert_eq!(bytes[0], wire::VERSION, "{name}");
            let kind = kind_of(bytes);
            assert_eq!(&bytes[2..34], spec.params.session().as_bytes(), "{name}");
            assert_eq!(name.split('/').nth(1), Some(kind.to_string().as_str()));
            let from_client = name.contains("/client") && !name.starts_with("round1/roster");
            let server_kinds = [
                "roster",
                "shares_delivery",
                "consistency_request",
                "unmasking_request",
            ];
            let by_server = server_kinds.iter().any(|k| name.contains(k));
            assert_eq!(kind.is_from_client(), from_client && !by_server, "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// rejects_*: one test per class of malformed input
// ---------------------------------------------------------------------------------------

#[test]
fn rejects_truncated_messages() {
    for t in transcripts() {
        for (name, bytes) in &t.messages {
            for len in 0..bytes.len() {
                let got = decode_as(kind_of(bytes), &bytes[..len], &t.limits);
                assert!(
                    matches!(got, Err(DecodeError::TooShort { .. })),
                    "{name} cut to {len} bytes: {got:?}"
                );
            }
        }
    }
}

#[test]
fn rejects_trailing_bytes() {
    for t in transcripts() {
        // The roster is the longest message of its session: one more byte would be over the
        // message limit, which is checked first.
        let mut limits = t.limits;
        limits.max_message_bytes = usize::MAX;
        for (name, bytes) in &t.messages {
            for extra in [&[0u8][..], &[1, 2, 3]] {
                let long = [bytes.as_slice(), extra].concat();
                assert_eq!(
                    decode_as(kind_of(bytes), &long, &limits),
                    Err(DecodeError::TrailingBytes { count: extra.len() }),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn rejects_unknown_version() {
    for t in transcripts() {
        for (name, bytes) in &t.messages {
            for v in [0u8, 1, 2, 4, 0xff] {
                let mut b = bytes.clone();
                b[0] = v;
                let got = decode_as(kind_of(bytes), &b, &t.limits);
                assert_eq!(got, Err(DecodeError::UnknownVersion(v)), "{name}");
                assert_eq!(reencode(&b, &t.limits), Err(DecodeError::UnknownVersion(v)));
            }
        }
    }
}

#[test]
fn rejects_unknown_kind() {
    let t = session::run(&session::complete_n3());
    let bytes = t.get("round0/advertise_keys/client1");
    for k in [0u8, 10, 0x81, 0xff] {
        let mut b = bytes.to_vec();
        b[1] = k;
        for kind in Kind::ALL {
            assert_eq!(
                decode_as(kind, &b, &t.limits),
                Err(DecodeError::UnknownKind(k))
            );
        }
        assert_eq!(reencode(&b, &t.limits), Err(DecodeError::UnknownKind(k)));
    }
}

#[test]
fn rejects_wrong_kind() {
    for t in transcripts() {
        for (name, bytes) in &t.messages {
            let got = kind_of(bytes);
            for expected in Kind::ALL.into_iter().filter(|k| *k != got) {
                assert_eq!(
                    decode_as(expected, bytes, &t.limits),
                    Err(DecodeError::WrongKind { expected, got }),
                    "{name} as {expected}"
                );
            }
        }
    }
}

#[test]
fn rejects_wrong_direction() {
    for t in transcripts() {
        for (name, bytes) in &t.messages {
            let kind = kind_of(bytes);
            let err = DecodeError::WrongDirection(kind);
            if kind.is_from_client() {
                assert_eq!(
                    wire::from_bytes::<ServerMessage>(bytes, &t.limits),
                    Err(err),
                    "{name}"
                );
            } else {
                assert_eq!(
                    wire::from_bytes::<ClientMessage>(bytes, &t.limits),
                    Err(err),
                    "{name}"
                );
            }
        }
    }
}

/// Every count field, set to `u32::MAX` or to one above the limit, fails before anything is
/// allocated.
#[test]
fn rejects_count_over_limit() {
    let t = session::run(&session::malicious_n4());
    let n = t.limits.max_clients;
    let request = t.get("round4/unmasking_request/client1");
    let survivors = u32::from_be_bytes(request[38..42].try_into().unwrap()) as usize;
    let dropped_at = 42 + 4 * survivors;
    let dropped = u32::from_be_bytes(request[dropped_at..dropped_at + 4].try_into().unwrap());
    let signatures_at = dropped_at + 4 + 4 * dropped as usize;
    let response = t.get("round4/unmasking_response/client1");
    let self_mask = u32::from_be_bytes(response[38..42].try_into().unwrap()) as usize;
    // (message, offset of its count, what)
    let fields: [(&str, usize, &str); 8] = [
        ("round1/roster", 34, "roster entries"),
        ("round1/share_keys/client1", 38, "sealed shares"),
        ("round2/shares_delivery/client1", 38, "sealed shares"),
        ("round3/consistency_request/client1", 38, "survivors"),
        ("round4/unmasking_request/client1", 38, "survivors"),
        ("round4/unmasking_request/client1", dropped_at, "dropped"),
        (
            "round4/unmasking_request/client1",
            signatures_at,
            "signatures",
        ),
        ("round4/unmasking_response/client1", 38, "self-mask shares"),
    ];
    let key_shares_at = 42 + 36 * self_mask;
    let fields = fields.into_iter().chain([(
        "round4/unmasking_response/client1",
        key_shares_at,
        "key shares",
    )]);
    for (name, at, what) in fields {
        let bytes = t.get(name);
        for count in [u32::MAX, u32::try_from(n + 1).unwrap()] {
            let mut b = bytes.to_vec();
            b[at..at + 4].copy_from_slice(&count.to_be_bytes());
            // The count is refused against the limit itself (the error names it), before
            // anything of that length is allocated or read.
            assert_eq!(
                decode_as(kind_of(bytes), &b, &t.limits),
                Err(DecodeError::LengthOverLimit {
                    what,
                    got: count as usize,
                    max: n
                }),
                "{name}"
            );
        }
    }
}

/// With the count limit lifted, a huge count must still fail on the remaining input before
/// any allocation (allocating `u32::MAX` roster entries would abort the test process).
#[test]
fn rejects_count_over_input_before_allocating() {
    let t = session::run(&session::complete_n3());
    let mut unlimited = t.limits;
    unlimited.max_clients = usize::MAX;
    for (name, at) in [
        ("round1/roster", 34),
        ("round1/share_keys/client1", 38),
        ("round4/unmasking_request/client1", 38),
        ("round4/unmasking_response/client1", 38),
    ] {
        let mut b = t.get(name).to_vec();
        b[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let got = decode_as(kind_of(&b), &b, &unlimited);
        assert!(
            matches!(got, Err(DecodeError::TooShort { .. })),
            "{name}: {got:?}"
        );
    }
}

#[test]
fn rejects_message_over_limit() {
    let t = session::run(&session::complete_n3());
    let bytes = t.get("round1/roster");
    let mut limits = t.limits;
    limits.max_message_bytes = bytes.len() - 1;
    assert_eq!(
        wire::from_bytes::<msg::Roster>(bytes, &limits),
        Err(DecodeError::LengthOverLimit {
            what: "message bytes",
            got: bytes.len(),
            max: bytes.len() - 1
        })
    );
    // A megabyte of garbage is refused on its length alone.
    let garbage = vec![0u8; 1 << 20];
    assert!(matches!(
        wire::from_bytes::<ClientMessage>(&garbage, &t.limits),
        Err(DecodeError::LengthOverLimit {
            what: "message bytes",
            ..
        })
    ));
}

/// `l`, the order of the scalar field, little-endian: the smallest non-canonical scalar.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

#[test]
fn rejects_non_canonical_scalar() {
    let t = session::run(&session::complete_n3());
    let response = t.get("round4/unmasking_response/client1");
    // Client 1 reveals one self-mask share per survivor (1, 2) and one key share (for 3).
    let self_mask = u32::from_be_bytes(response[38..42].try_into().unwrap()) as usize;
    let key_scalar_at = 42 + 36 * self_mask + 4 + 4;
    for at in [46, 46 + 36, key_scalar_at] {
        for bad in [L, [0xff; 32]] {
            let b = [&response[..at], &bad, &response[at + 32..]].concat();
            assert_eq!(
                wire::from_bytes::<msg::UnmaskingResponse>(&b, &t.limits),
                Err(DecodeError::NonCanonical("scalar")),
                "scalar at {at}"
            );
        }
        // l - 1 is the largest canonical scalar.
        let mut l_minus_1 = L;
        l_minus_1[0] -= 1;
        let b = [&response[..at], &l_minus_1, &response[at + 32..]].concat();
        assert!(wire::from_bytes::<msg::UnmaskingResponse>(&b, &t.limits).is_ok());
    }
}

#[test]
fn rejects_non_canonical_public_key() {
    let t = session::run(&session::complete_n3());
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let advert = t.get("round0/advertise_keys/client1");
    let roster = t.get("round1/roster");
    // The share key and the mask key of the advertisement, and of the roster's second entry.
    for (bytes, at) in [
        (advert, 38),
        (advert, 70),
        (roster, 38 + 101 + 4),
        (roster, 38 + 101 + 36),
    ] {
        for bad in [p, {
            let mut high = [0u8; 32];
            high[0] = 9;
            high[31] = 0x80;
            high
        }] {
            let b = [&bytes[..at], &bad, &bytes[at + 32..]].concat();
            assert_eq!(
                decode_as(kind_of(bytes), &b, &t.limits),
                Err(DecodeError::NonCanonical("x25519 public key"))
            );
        }
    }
}

#[test]
fn rejects_element_not_below_non_power_of_two_modulus() {
    let t = session::run(&session::sparse_n6_k2());
    let m = t.limits.modulus;
    assert_eq!(m, Modulus::new(1000).unwrap());
    let bytes = t.get("round2/masked_input/client1");
    let message: msg::MaskedInput = wire::from_bytes(bytes, &t.limits).unwrap();
    for index in 0..message.masked.len() {
        for x in [1000, 1001, 1023] {
            let mut bad = message.clone();
            bad.masked[index] = x;
            let b = wire::to_bytes(&PackedMaskedInput::new(&bad, m));
            assert_eq!(b.len(), bytes.len());
            assert_eq!(
                wire::from_bytes::<msg::MaskedInput>(&b, &t.limits),
                Err(DecodeError::ElementOutOfRange { index })
            );
        }
        let mut edge = message.clone();
        edge.masked[index] = 999;
        let b = wire::to_bytes(&PackedMaskedInput::new(&edge, m));
        assert_eq!(
            wire::from_bytes::<msg::MaskedInput>(&b, &t.limits),
            Ok(edge)
        );
    }
}

#[test]
fn rejects_non_zero_padding() {
    // d = 3 elements of 10 bits: 30 bits in 4 bytes, the top 2 bits of the last are padding.
    let t = session::run(&session::malicious_n4());
    let bytes = t.get("round2/masked_input/client1");
    assert_eq!(bytes.len(), 38 + 32 + 4);
    assert_eq!(bytes.last().unwrap() & 0xc0, 0);
    for bit in [0x40u8, 0x80] {
        let mut b = bytes.to_vec();
        *b.last_mut().unwrap() |= bit;
        assert_eq!(
            wire::from_bytes::<msg::MaskedInput>(&b, &t.limits),
            Err(DecodeError::NonZeroPadding)
        );
    }
}

#[test]
fn rejects_bad_option_byte() {
    for spec in [session::complete_n3(), session::malicious_n4()] {
        let t = session::run(&spec);
        let advert = t.get("round0/advertise_keys/client2");
        for option in [2u8, 0x80, 0xff] {
            let mut b = advert.to_vec();
            b[134] = option;
            assert_eq!(
                wire::from_bytes::<msg::AdvertiseKeys>(&b, &t.limits),
                Err(DecodeError::BadOptionByte(option))
            );
        }
    }
    // A signature behind an "absent" option byte is trailing garbage, and a "present" option
    // byte without a signature is truncated.
    let t = session::run(&session::malicious_n4());
    let mut b = t.get("round0/advertise_keys/client2").to_vec();
    b[134] = 0;
    assert_eq!(
        wire::from_bytes::<msg::AdvertiseKeys>(&b, &t.limits),
        Err(DecodeError::TrailingBytes { count: 64 })
    );
    let t = session::run(&session::complete_n3());
    let mut b = t.get("round0/advertise_keys/client2").to_vec();
    b[134] = 1;
    assert_eq!(
        wire::from_bytes::<msg::AdvertiseKeys>(&b, &t.limits),
        Err(DecodeError::TooShort {
            needed: 64,
            remaining: 0
        })
    );
}

#[test]
fn decode_errors_display_in_lower_case() {
    let errors = [
        DecodeError::TooShort {
            needed: 4,
            remaining: 1,
        },
        DecodeError::TrailingBytes { count: 2 },
        DecodeError::UnknownVersion(2),
        DecodeError::UnknownKind(0),
        DecodeError::WrongKind {
            expected: Kind::Roster,
            got: Kind::ShareKeys,
        },
        DecodeError::WrongDirection(Kind::Roster),
        DecodeError::LengthOverLimit {
            what: "survivors",
            got: 9,
            max: 8,
        },
        DecodeError::NonCanonical("scalar"),
        DecodeError::BadOptionByte(2),
        DecodeError::ElementOutOfRange { index: 3 },
        DecodeError::NonZeroPadding,
    ];
    for e in errors {
        let s = e.to_string();
        assert!(
            s.starts_with(|c: char| c.is_lowercase() || c.is_ascii_digit()),
            "{s}"
        );
        assert!(!s.ends_with('.'), "{s}");
        let _: &dyn core::error::Error = &e;
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn any_kind_byte() -> impl Strategy<Value = u8> {
    prop_oneof![1u8..=9, any::<u8>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random bytes (behind a valid or random header) never panic any decoder, and whatever
    /// decodes re-encodes to exactly the input.
    #[test]
    fn decoding_random_bytes_never_panics(
        kind in any_kind_byte(),
        body in proptest::collection::vec(any::<u8>(), 0..400),
        with_header in any::<bool>(),
    ) {
        let spec = session::sparse_n6_k2();
        let limits = Limits::for_params(&spec.params);
        let bytes = if with_header {
            [&[wire::VERSION, kind][..], spec.params.session().as_bytes(), &body].concat()
        } else {
            body
        };
        for k in Kind::ALL {
            let _ = decode_as(k, &bytes, &limits);
        }
        if let Ok(again) = reencode(&bytes, &limits) {
            prop_assert_eq!(again, bytes);
        }
    }

    /// Real messages with random bytes overwritten: any that still decodes is canonical.
    #[test]
    fn mutated_messages_decode_canonically_or_not_at_all(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let t = session::run(&session::malicious_n4());
        let (_, original) = &t.messages[which.index(t.messages.len())];
        let mut bytes = original.clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(again) = reencode(&bytes, &t.limits) {
            prop_assert_eq!(again, bytes);
        }
    }

    /// Random masked vectors at every bit width round-trip through the packed encoding.
    #[test]
    fn masked_vectors_round_trip_at_every_width(
        bits in 1u32..=64,
        odd in 0u64..1000,
        power_of_two in any::<bool>(),
        seeds in proptest::collection::vec(any::<u64>(), 1..40),
    ) {
        let m = if power_of_two || bits == 1 {
            Modulus::power_of_two(bits).unwrap()
        } else {
            // A non-power of two with exactly `bits` bits.
            let top = 1u128 << (bits - 1);
            let m = top + 1 + u128::from(odd) % (top - 1).max(1);
            Modulus::new(u64::try_from(m.min(u128::from(u64::MAX))).unwrap()).unwrap()
        };
        prop_assert_eq!(m.bits(), bits);
        let masked: Vec<u64> = seeds
            .iter()
            .map(|s| u64::try_from(u128::from(*s) % m.value()).unwrap())
            .collect();
        let params = Params::new(SessionId([9; 32]), 2, 2, m, masked.len()).unwrap();
        let limits = Limits::for_params(&params);
        let message = msg::MaskedInput { session: SessionId([9; 32]), sender: ClientId(1), roster_digest: [3; 32], masked };
        let bytes = wire::to_bytes(&PackedMaskedInput::new(&message, m));
        prop_assert_eq!(bytes.len(), 70 + (message.masked.len() * bits as usize).div_ceil(8));
        prop_assert_eq!(wire::from_bytes::<msg::MaskedInput>(&bytes, &limits), Ok(message));
    }
}

// ---------------------------------------------------------------------------------------
// Traffic formulas (docs/WIRE.md) against the simulator, and the expansion factors
// ---------------------------------------------------------------------------------------

/// Bytes a client sends and receives per round, with no dropouts, as in `docs/WIRE.md`:
/// `n` clients, `k` neighbours (`n - 1` on the complete graph), `d` elements of `b` bits.
#[derive(Debug, Clone, Copy)]
struct Traffic {
    n: u64,
    k: u64,
    d: u64,
    b: u64,
    malicious: bool,
}

impl Traffic {
    fn sig(self) -> u64 {
        u64::from(self.malicious)
    }
    fn advertise_keys(self) -> u64 {
        135 + 64 * self.sig()
    }
    /// The whole roster (the complete graph): a roster view of a sparse graph has `k + 1`
    /// entries and a proof whose length depends on where the ids sit in the tree
    /// (`roster_view_bounds`).
    fn roster(self) -> u64 {
        39 + (101 + 64 * self.sig()) * self.n
    }
    /// The least and most a roster view can take: its `k + 1` entries with an empty proof,
    /// and with the longest proof of `k + 1` leaves.
    fn roster_view_bounds(self) -> (u64, u64) {
        let entries = 47 + (101 + 64 * self.sig()) * (self.k + 1);
        let proof = max_roster_proof_len(usize::try_from(self.k + 1).unwrap());
        (entries, entries + proof as u64)
    }
    fn share_keys(self) -> u64 {
        43 + 84 * self.k + 64 * self.sig()
    }
    fn shares_delivery(self) -> u64 {
        46 + (84 + 68 * self.sig()) * self.k
    }
    fn masked_input(self) -> u64 {
        70 + (self.d * self.b).div_ceil(8)
    }
    /// The whole survivor list (the complete graph): a slice of a sparse graph has the
    /// statuses of `k + 1` clients and a proof (`consistency_slice_bounds`).
    fn consistency_request(self) -> u64 {
        43 + 4 * self.n
    }
    /// The least and most a consistency request's slice can take: `k + 1` statuses with an
    /// empty proof, and with the longest proof of `k + 1` leaves.
    fn consistency_slice_bounds(self) -> (u64, u64) {
        let statuses = 51 + 4 * (self.k + 1);
        let proof = max_roster_proof_len(usize::try_from(self.k + 1).unwrap());
        (statuses, statuses + proof as u64)
    }
    fn consistency_signature(self) -> u64 {
        102
    }
    fn unmasking_request(self) -> u64 {
        50 + 4 * (self.k + 1) + 68 * (self.k + 1) * self.sig()
    }
    fn unmasking_response(self) -> u64 {
        46 + 36 * (self.k + 1)
    }
    /// `(round, sent, received)` per client, attributing each server message to the round
    /// that consumes it (as the simulator does).
    fn rounds(self) -> Vec<(Round, u64, u64)> {
        let mut r = vec![
            (Round::AdvertiseKeys, self.advertise_keys(), 0),
            (Round::ShareKeys, self.share_keys(), self.roster()),
            (
                Round::MaskedInput,
                self.masked_input(),
                self.shares_delivery(),
            ),
        ];
        if self.malicious {
            r.push((
                Round::Consistency,
                self.consistency_signature(),
                self.consistency_request(),
            ));
        }
        r.push((
            Round::Unmasking,
            self.unmasking_response(),
            self.unmasking_request(),
        ));
        r
    }
    fn sent(self) -> u64 {
        self.rounds().iter().map(|r| r.1).sum()
    }
    fn received(self) -> u64 {
        self.rounds().iter().map(|r| r.2).sum()
    }
    /// Total client traffic over `d` elements of `clear_bits` sent in the clear.
    fn expansion(self, clear_bits: u64) -> f64 {
        (self.sent() + self.received()) as f64 / (self.d * clear_bits).div_ceil(8) as f64
    }
}

#[test]
fn traffic_formulas_match_the_simulator() {
    let cases = [
        (
            7,
            None,
            ThreatModel::HonestButCurious,
            Modulus::power_of_two(16).unwrap(),
            100,
        ),
        (
            7,
            None,
            ThreatModel::Malicious,
            Modulus::new(1000).unwrap(),
            33,
        ),
        (
            12,
            Some(4),
            ThreatModel::HonestButCurious,
            Modulus::power_of_two(32).unwrap(),
            50,
        ),
        (
            12,
            Some(4),
            ThreatModel::Malicious,
            Modulus::power_of_two(7).unwrap(),
            9,
        ),
    ];
    for (n, neighbours, threat, m, d) in cases {
        let mut builder = Params::builder(SessionId([5; 32]), n, m, d).threat_model(threat);
        if let Some(k) = neighbours {
            builder = builder.neighbours(k);
        }
        let params = builder.build().unwrap();
        let inputs = (0..n).map(|_| PlainInput::new(vec![1; d])).collect();
        let report = Simulation::new(params, inputs).run(1, &mut |_, _, _| {});
        assert!(report.outcome.is_ok());
        let traffic = Traffic {
            n: n as u64,
            k: neighbours.unwrap_or(n - 1) as u64,
            d: d as u64,
            b: u64::from(m.bits()),
            malicious: threat == ThreatModel::Malicious,
        };
        let expected = traffic.rounds();
        assert_eq!(report.rounds.len(), expected.len(), "{traffic:?}");
        for (got, (round, sent, received)) in report.rounds.iter().zip(expected) {
            assert_eq!(got.round, round);
            assert_eq!(
                got.bytes_sent_per_client, sent as f64,
                "{traffic:?} {round}"
            );
            if round == Round::Consistency && neighbours.is_some() {
                // A sparse graph: each survivor receives its slice, not the whole list.
                let (least, most) = traffic.consistency_slice_bounds();
                let got = got.bytes_received_per_client;
                assert!(
                    least as f64 <= got && got <= most as f64,
                    "{traffic:?}: {got} not in [{least}, {most}]"
                );
                continue;
            }
            if round == Round::ShareKeys && neighbours.is_some() {
                // A sparse graph: each client receives its view, not the whole roster.
                let (least, most) = traffic.roster_view_bounds();
                let got = got.bytes_received_per_client;
                assert!(
                    least as f64 <= got && got <= most as f64,
                    "{traffic:?}: {got} not in [{least}, {most}]"
                );
                assert!(
                    got < received as f64,
                    "{traffic:?}: a view is below the roster"
                );
                continue;
            }
            assert_eq!(
                got.bytes_received_per_client, received as f64,
                "{traffic:?} {round}"
            );
        }
    }
}

/// What one client sends and receives in a session of `t`'s shape with no dropouts, summed
/// from the library's own encoder: every message built at its full list lengths and measured
/// with `encoded_len` (which `message_sizes_follow_the_documented_layouts` ties to the bytes).
/// The formulas of `Traffic` (and `docs/WIRE.md`) are checked against this, so a change of
/// the codec fails the traffic tests instead of leaving them to test their own arithmetic.
fn encoded_traffic(t: Traffic) -> (u64, u64) {
    use secagg::wire::Encode;
    use secagg::{PublicKey, Signature};
    let n = usize::try_from(t.n).unwrap();
    let k = usize::try_from(t.k).unwrap();
    let session = SessionId([8; 32]);
    let id = |i: usize| ClientId(u32::try_from(i).unwrap());
    let signature = t.malicious.then_some(Signature([1; 64]));
    let advert = |i: usize| msg::AdvertiseKeys {
        session,
        sender: id(i),
        share_public_key: PublicKey([9; 32]),
        mask_public_key: PublicKey([9; 32]),
        self_mask_commitment: [2; 32],
        signature,
    };
    let sealed = |from: usize, to: usize| msg::SealedShares {
        sender: id(from),
        recipient: id(to),
        ciphertext: [0; msg::SEALED_SHARES_LEN],
    };
    let peers: Vec<usize> = (2..=k + 1).collect();
    let holders: Vec<ClientId> = (1..=k + 1).map(id).collect();
    let signatures: Vec<(ClientId, Signature)> = if t.malicious {
        peers.iter().map(|&v| (id(v), Signature([3; 64]))).collect()
    } else {
        Vec::new()
    };
    let zero = secagg::hazmat::shamir::SecretScalar::from_canonical_bytes([0; 32]).unwrap();
    let shares = || holders.iter().map(|&h| (h, zero.duplicate())).collect();
    let modulus = Modulus::power_of_two(u32::try_from(t.b).unwrap()).unwrap();
    let masked = msg::MaskedInput {
        session,
        sender: id(1),
        roster_digest: [4; 32],
        masked: vec![0; usize::try_from(t.d).unwrap()],
    };
    let len = |m: &dyn Encode| m.encoded_len() as u64;
    let mut sent = len(&advert(1))
        + len(&msg::ShareKeys {
            session,
            sender: id(1),
            sealed: peers.iter().map(|&v| sealed(1, v)).collect(),
            roster_signature: signature,
        })
        + len(&PackedMaskedInput::new(&masked, modulus))
        + len(&msg::UnmaskingResponse {
            session,
            sender: id(1),
            self_mask_shares: shares(),
            key_shares: Vec::new(),
        });
    let mut received = len(&msg::Roster {
        session,
        entries: (1..=n).map(advert).collect(),
        slice: None,
    }) + len(&msg::SharesDelivery {
        session,
        recipient: id(1),
        sealed: peers.iter().map(|&v| sealed(v, 1)).collect(),
        roster_signatures: signatures.clone(),
    }) + len(&msg::UnmaskingRequest {
        session,
        recipient: id(1),
        survivors: holders.clone(),
        dropped: Vec::new(),
        signatures: if t.malicious {
            holders.iter().map(|&h| (h, Signature([5; 64]))).collect()
        } else {
            Vec::new()
        },
    });
    if t.malicious {
        sent += len(&msg::ConsistencySignature {
            session,
            sender: id(1),
            signature: Signature([6; 64]),
        });
        received += len(&msg::ConsistencyRequest {
            session,
            recipient: id(1),
            survivors: (1..=n).map(id).collect(),
            slice: None,
        });
    }
    (sent, received)
}

/// The closed forms of `docs/WIRE.md`: with no dropouts and an honest-but-curious server a
/// client sends `330 + 120k + ceil(db/8)` and receives `138 + 101n + 88k` bytes; against a
/// malicious server `560 + 120k + ceil(db/8)` and `250 + 169n + 224k`. Each is checked
/// against the encoder's own lengths.
#[test]
fn traffic_totals_have_the_documented_closed_form() {
    for (n, k, d, b) in [(3, 2, 5, 16), (1024, 1023, 1 << 16, 26), (100, 20, 1000, 7)] {
        let t = Traffic {
            n,
            k,
            d,
            b,
            malicious: false,
        };
        assert_eq!(t.sent(), 330 + 120 * k + (d * b).div_ceil(8));
        assert_eq!(t.received(), 139 + 101 * n + 88 * k);
        assert_eq!(encoded_traffic(t), (t.sent(), t.received()), "{t:?}");
        let m = Traffic {
            malicious: true,
            ..t
        };
        assert_eq!(m.sent(), 560 + 120 * k + (d * b).div_ceil(8));
        assert_eq!(m.received(), 250 + 169 * n + 224 * k);
        assert_eq!(encoded_traffic(m), (m.sent(), m.received()), "{m:?}");
    }
}

/// The expansion factors quoted in `docs/WIRE.md`, next to Bonawitz et al.'s 1.73x and
/// 1.98x: total client traffic (sent + received) over the input sent in the clear, for
/// 16-bit inputs masked at `b = 16 + log2 n` bits (so that the sum of `n` inputs cannot wrap).
#[test]
fn expansion_factors_for_the_papers_settings() {
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let small = Traffic {
        n: 1 << 10,
        k: (1 << 10) - 1,
        d: 1 << 20,
        b: 26,
        malicious: false,
    };
    let large = Traffic {
        n: 1 << 14,
        k: (1 << 14) - 1,
        d: 1 << 24,
        b: 30,
        malicious: false,
    };
    // The formulas are the encoder's (both shapes, both threat models, SecAgg+).
    for t in [small, large, Traffic { k: 64, ..large }] {
        for malicious in [false, true] {
            let t = Traffic { malicious, ..t };
            assert_eq!(encoded_traffic(t), (t.sent(), t.received()), "{t:?}");
        }
    }
    assert_eq!(small.sent() + small.received(), 3_724_549);
    assert_eq!(large.sent() + large.received(), 67_977_477);
    assert_eq!(round3(small.expansion(16)), 1.776);
    assert_eq!(round3(large.expansion(16)), 2.026);
    assert_eq!(round3(small.expansion(small.b)), 1.093);
    assert_eq!(round3(large.expansion(large.b)), 1.080);
    // Upload only.
    assert_eq!(small.sent(), 3_530_962);
    assert_eq!(round3(small.sent() as f64 / (2 * small.d) as f64), 1.684);
    assert_eq!(round3(large.sent() as f64 / (2 * large.d) as f64), 1.934);
    // Malicious server, and SecAgg+ with k = 64 at the larger size.
    for (t, total, over16, overb) in [
        (
            Traffic {
                malicious: true,
                ..small
            },
            3_933_650,
            1.876,
            1.154,
        ),
        (
            Traffic {
                malicious: true,
                ..large
            },
            71_320_018,
            2.126,
            1.134,
        ),
        (Traffic { k: 64, ..large }, 64_583_125, 1.925, 1.027),
    ] {
        assert_eq!(t.sent() + t.received(), total, "{t:?}");
        assert_eq!(round3(t.expansion(16)), over16, "{t:?}");
        assert_eq!(round3(t.expansion(t.b)), overb, "{t:?}");
    }
    // SecAgg+ with the whole roster: the roster is most of the overhead. A client of a
    // sparse graph receives its view instead, `k + 1` entries and a proof of at most
    // 1,217 bytes per entry (`Traffic::roster_view_bounds`): here at most 85,754 bytes.
    let plus = Traffic { k: 64, ..large };
    assert_eq!(plus.roster_view_bounds().1, 85_754);
    assert!(19 * plus.roster_view_bounds().1 < plus.roster());
    assert_eq!(plus.roster(), 1_654_823);
    assert_eq!(
        plus.sent() + plus.received() - plus.d * plus.b / 8,
        1_668_565
    );
    // Bonawitz et al.'s own accounting (2n keys and 5n - 4 shares of 256 bits, d elements of
    // b = 16 + log2 n bits, over 16d bits) reproduces their 1.73x and 1.98x.
    let paper =
        |n: u64, d: u64, b: u64| ((2 * n + 5 * n - 4) * 256 + d * b) as f64 / (16 * d) as f64;
    assert_eq!((paper(1 << 10, 1 << 20, 26) * 100.0).round() / 100.0, 1.73);
    assert_eq!((paper(1 << 14, 1 << 24, 30) * 100.0).round() / 100.0, 1.98);
}

proptest! {
    /// `EncodeWith` mirrors `DecodeWith`: a masked input (and any client message holding one)
    /// encodes within the session's limits to the bytes `from_bytes` reads back, of the length
    /// `encoded_len_with` announces, the same bytes as `PackedMaskedInput`.
    #[test]
    fn encode_with_mirrors_decode_with(
        bits in 1u32..=64,
        seed in any::<u64>(),
        d in 1usize..40,
    ) {
        let modulus = Modulus::power_of_two(bits).unwrap();
        let params = Params::new(SessionId([3; 32]), 3, 2, modulus, d).unwrap();
        let limits = Limits::for_params(&params);
        let masked: Vec<u64> = (0..d as u64)
            .map(|j| seed.wrapping_mul(j + 1).wrapping_add(j) & modulus.max_element())
            .collect();
        let m = msg::MaskedInput {
            session: SessionId([3; 32]),
            sender: ClientId(2),
            roster_digest: [7; 32],
            masked,
        };
        let bytes = wire::to_bytes_with(&m, &limits);
        prop_assert_eq!(&bytes, &wire::to_bytes(&PackedMaskedInput::new(&m, modulus)));
        prop_assert_eq!(wire::EncodeWith::encoded_len_with(&m, &limits), bytes.len());
        let back: msg::MaskedInput = wire::from_bytes(&bytes, &limits).unwrap();
        prop_assert_eq!(&back, &m);
        let any = ClientMessage::MaskedInput(m);
        prop_assert_eq!(wire::to_bytes_with(&any, &limits), bytes);
    }
}
