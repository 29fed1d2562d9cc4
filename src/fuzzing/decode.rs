//! The fuzz harness: the decoding targets (and bit unpacking).

#[allow(clippy::wildcard_imports)]
use super::*;

/// Decodes `message` as the envelope `M` both with [`wire::from_bytes`] and from a [`Reader`]
/// that allows trailing bytes; whatever decodes must re-encode to exactly the bytes consumed,
/// and be as long as [`Encode::encoded_len`] says (which sizes buffers and counts traffic).
pub(super) fn decode_round_trip<M>(
    message: &[u8],
    limits: &Limits,
    encode: impl Fn(&M) -> Vec<u8>,
    accounted: impl Fn(&M) -> usize,
) where
    M: DecodeWith<Limits> + PartialEq + core::fmt::Debug,
{
    let whole = wire::from_bytes::<M>(message, limits);
    match &whole {
        Ok(m) => {
            assert_eq!(encode(m), message, "decoded message re-encodes differently");
            assert_eq!(accounted(m), message.len(), "Encode::encoded_len disagrees");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let mut r = Reader::new(message);
    let prefix = M::decode_with(&mut r, limits);
    let consumed = message.len() - r.remaining();
    match prefix {
        Ok(m) => {
            assert_eq!(encode(&m), message.get(..consumed).unwrap_or_default());
            // The whole input decodes exactly when nothing is left over (and it is within the
            // length limit).
            if consumed == message.len() && message.len() <= limits.max_message_bytes {
                assert_eq!(whole.as_ref(), Ok(&m));
            } else {
                assert!(whole.is_err());
            }
        }
        Err(e) => {
            if message.len() <= limits.max_message_bytes {
                assert_eq!(
                    whole.as_ref().err(),
                    Some(&e),
                    "from_bytes and Reader disagree"
                );
            }
        }
    }
}

/// Target `decode_client_message`: the first byte picks the session parameters
/// ([`decode_params`]), the rest is decoded as a [`ClientMessage`] under its [`Limits`].
pub fn decode_client_message(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let params = decode_params(selector);
    let limits = Limits::for_params(&params);
    decode_round_trip::<ClientMessage>(
        message,
        &limits,
        |m| m.to_bytes(limits.modulus),
        |m| match m {
            ClientMessage::AdvertiseKeys(m) => m.encoded_len(),
            ClientMessage::ShareKeys(m) => m.encoded_len(),
            ClientMessage::MaskedInput(m) => {
                PackedMaskedInput::new(m, limits.modulus).encoded_len()
            }
            ClientMessage::ConsistencySignature(m) => m.encoded_len(),
            ClientMessage::UnmaskingResponse(m) => m.encoded_len(),
        },
    );
    if let Ok(m) = wire::from_bytes::<ClientMessage>(message, &limits) {
        assert!(m.kind().is_from_client());
        assert_eq!(message.get(1).copied(), Some(m.kind().byte()));
    }
}

/// Target `decode_server_message`: as [`decode_client_message`], for a [`ServerMessage`].
pub fn decode_server_message(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let params = decode_params(selector);
    let limits = Limits::for_params(&params);
    decode_round_trip::<ServerMessage>(message, &limits, wire::to_bytes, Encode::encoded_len);
    if let Ok(m) = wire::from_bytes::<ServerMessage>(message, &limits) {
        assert!(!m.kind().is_from_client());
        assert_eq!(Encode::encoded_len(&m), message.len());
    }
}

/// The bytes of `ceil(len * bits / 8)`, or `None` if that overflows.
pub(super) fn packed_bytes(len: usize, bits: u32) -> Option<usize> {
    u128::try_from(len)
        .ok()?
        .checked_mul(u128::from(bits))
        .and_then(|b| usize::try_from(b.div_ceil(8)).ok())
}

/// Target `unpack_vector`: bit-packed vectors of any width 1..=64 (powers of two and other
/// moduli) and any length. Either arbitrary bytes are unpacked (then `Ok` repacks to them, and
/// every error is the one the bytes call for), or arbitrary elements are packed and must
/// unpack to themselves.
pub fn unpack_vector(data: &[u8]) {
    let mut inp = Input::new(data);
    let selector = inp.byte();
    let m = if selector & 0x80 == 0 {
        p2(1 + u32::from(selector % 64))
    } else {
        Modulus::new(inp.u64()).unwrap_or_else(|_| p2(1 + u32::from(selector % 64)))
    };
    let len = match inp.byte() % 4 {
        0 => usize::from(inp.byte()),
        1 | 2 => usize::from(inp.u16()),
        _ => usize::try_from(inp.u64()).unwrap_or(usize::MAX),
    };
    let bits = m.bits();
    let limits = Limits {
        max_clients: 1,
        vector_len: len,
        modulus: m,
        max_message_bytes: usize::MAX,
    };
    let session = SessionId([0x5a; 32]);
    let mut message = vec![wire::VERSION, Kind::MaskedInput.byte()];
    message.extend_from_slice(session.as_bytes());
    message.extend_from_slice(&7u32.to_be_bytes());
    // The roster digest the message is bound to.
    message.extend_from_slice(&[0xd1; 32]);
    let header = message.len();

    if inp.byte() & 1 == 0 {
        let packed = inp.rest();
        message.extend_from_slice(packed);
        let expected = packed_bytes(len, bits);
        match wire::from_bytes::<msg::MaskedInput>(&message, &limits) {
            Ok(y) => {
                assert_eq!(y.masked.len(), len);
                assert!(y.masked.iter().all(|&x| m.contains(x)));
                assert_eq!(Some(packed.len()), expected);
                let again = wire::to_bytes(&PackedMaskedInput::new(&y, m));
                assert_eq!(again, message, "unpacked vector repacks differently");
            }
            Err(DecodeError::TooShort { .. }) => {
                assert!(expected.is_none_or(|e| packed.len() < e));
            }
            Err(DecodeError::TrailingBytes { count }) => {
                assert_eq!(expected.map(|e| e + count), Some(packed.len()));
            }
            Err(DecodeError::ElementOutOfRange { index }) => {
                assert!(index < len && m.power_of_two_bits().is_none());
                assert!(expected.is_some_and(|e| packed.len() >= e));
            }
            Err(DecodeError::NonZeroPadding) => {
                // Padding is checked before trailing bytes.
                assert!(expected.is_some_and(|e| packed.len() >= e));
                assert!(
                    len.checked_mul(usize::try_from(bits).unwrap_or(64))
                        .is_some_and(|b| b % 8 != 0)
                );
            }
            Err(e) => panic!("unexpected error unpacking a vector: {e}"),
        }
    } else {
        // Pack arbitrary elements (at most what the input holds) and unpack them.
        let n = len.min(inp.rest.len() / 8 + 1).min(4096);
        let values: Vec<u64> = (0..n).map(|_| reduce(m, inp.u64())).collect();
        let y = msg::MaskedInput {
            session,
            sender: ClientId(7),
            roster_digest: [0xd1; 32],
            masked: values,
        };
        let bytes = wire::to_bytes(&PackedMaskedInput::new(&y, m));
        assert_eq!(Some(bytes.len() - header), packed_bytes(n, bits));
        let limits = Limits {
            vector_len: n,
            ..limits
        };
        let back = wire::from_bytes::<msg::MaskedInput>(&bytes, &limits);
        assert_eq!(back.as_ref(), Ok(&y), "packed vector unpacks differently");
    }
}
