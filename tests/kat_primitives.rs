//! Known-answer tests of the building blocks under `secagg::hazmat`.
//!
//! Every expected hex value below is typed from the published document named in its section
//! comment, never produced by running this crate: RFC 7748 (X25519), RFC 5869 (HKDF-SHA256),
//! RFC 8439 (ChaCha20 and ChaCha20-Poly1305). Where a test pins one of our own layouts (the KDF
//! info string, the AEAD nonce and associated data, the PRG mapping) the reference value is
//! computed independently with the RustCrypto crates from the layout as documented in the
//! module, and the underlying primitive is itself pinned to its RFC vector in this file. The
//! Shamir values are computed by hand in the comments.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use sha2::Sha256;

use secagg::hazmat::aead::{self, ShareContext};
use secagg::hazmat::kdf;
use secagg::hazmat::kx::{NonContributory, PublicKey, SecretKey};
use secagg::hazmat::prg::{CHUNK_ELEMENTS, Sign, apply_mask};
use secagg::hazmat::shamir::{self, Lagrange, SecretScalar, ShamirError, Share};
use secagg::{ClientId, Modulus, SessionId, ShareIndex};

/// Decodes hex, ignoring whitespace so vectors can be laid out as in the RFCs.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => u8::MAX,
        })
        .collect();
    assert!(
        digits.len().is_multiple_of(2) && digits.iter().all(|d| *d < 16),
        "bad hex literal: {s}"
    );
    digits.chunks_exact(2).map(|p| (p[0] << 4) | p[1]).collect()
}

fn hex32(s: &str) -> [u8; 32] {
    let bytes = hex(s);
    let mut out = [0u8; 32];
    assert_eq!(bytes.len(), 32, "not 32 bytes: {s}");
    out.copy_from_slice(&bytes);
    out
}

/// The plaintext of RFC 8439 §2.4.2 and §2.8.2.
const SUNSCREEN: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only \
one tip for the future, sunscreen would be it.";

// ---------------------------------------------------------------------------------------------
// RFC 7748 (X25519): §5.2 test vectors, §6.1 Diffie-Hellman, and the small-order inputs of the
// blocklist at https://cr.yp.to/ecdh.html (as used by libsodium and Wycheproof).
// ---------------------------------------------------------------------------------------------

/// RFC 7748 §5.2, the two single-shot vectors: (input scalar, input u-coordinate, output).
const RFC7748_5_2: [(&str, &str, &str); 2] = [
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
];

/// RFC 7748 §6.1.
const ALICE_PRIVATE: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const ALICE_PUBLIC: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const BOB_PRIVATE: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const BOB_PUBLIC: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const ALICE_BOB_SHARED: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

#[test]
fn x25519_rfc7748_5_2_vectors_in_the_backend() {
    // `SecretKey::agree` is `x25519_dalek::StaticSecret::diffie_hellman`, i.e. the same clamped
    // Montgomery ladder as `x25519_dalek::x25519`. The shared secret of `agree` has no public
    // byte accessor, so the published outputs are checked on the backend function here and
    // `agree` is tied to it in the tests below.
    for (scalar, u, output) in RFC7748_5_2 {
        assert_eq!(
            x25519_dalek::x25519(hex32(scalar), hex32(u)),
            hex32(output),
            "RFC 7748 §5.2 scalar {scalar}"
        );
    }
    assert_eq!(
        x25519_dalek::x25519(hex32(ALICE_PRIVATE), hex32(BOB_PUBLIC)),
        hex32(ALICE_BOB_SHARED)
    );
}

#[test]
fn x25519_rfc7748_5_2_through_agree() {
    for (scalar, u, expected) in RFC7748_5_2 {
        let key = SecretKey::from_bytes(hex32(scalar));
        let first = key.agree(&PublicKey(hex32(u))).unwrap();
        assert!(bool::from(first.ct_eq_bytes(&hex32(expected))));
        let again = SecretKey::from_bytes(hex32(scalar))
            .agree(&PublicKey(hex32(u)))
            .unwrap();
        assert_eq!(first, again);
        // A different peer key gives a different secret.
        let other = key.agree(&PublicKey(hex32(BOB_PUBLIC))).unwrap();
        assert_ne!(first, other);
    }
}

#[test]
fn x25519_rfc7748_5_2_first_iteration_through_public_key() {
    // RFC 7748 §5.2, iterated test: k = u = 9; after one iteration k = X25519(9, 9), which is
    // the public key of the private key 9.
    let mut nine = [0u8; 32];
    nine[0] = 9;
    assert_eq!(
        SecretKey::from_bytes(nine).public_key(),
        PublicKey(hex32(
            "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"
        ))
    );
}

#[test]
fn x25519_rfc7748_6_1_diffie_hellman() {
    let alice = SecretKey::from_bytes(hex32(ALICE_PRIVATE));
    let bob = SecretKey::from_bytes(hex32(BOB_PRIVATE));
    assert_eq!(alice.public_key(), PublicKey(hex32(ALICE_PUBLIC)));
    assert_eq!(bob.public_key(), PublicKey(hex32(BOB_PUBLIC)));
    // Both sides reach one secret, from the published public keys (not from our own).
    let k_alice = alice.agree(&PublicKey(hex32(BOB_PUBLIC))).unwrap();
    let k_bob = bob.agree(&PublicKey(hex32(ALICE_PUBLIC))).unwrap();
    assert_eq!(k_alice, k_bob);
    assert!(bool::from(k_alice.ct_eq_bytes(&hex32(ALICE_BOB_SHARED))));
}

/// Small-order u-coordinates of the blocklist at https://cr.yp.to/ecdh.html (libsodium
/// `has_small_order`, Wycheproof "low order public key" cases) whose bit 255 is clear. X25519
/// with any clamped scalar maps each of them to the all-zero output.
const SMALL_ORDER: [(&str, &str); 7] = [
    (
        "0",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "1",
        "0100000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "order 8",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ),
    (
        "order 8",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    ),
    (
        "p - 1",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "p",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "p + 1",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
];

#[test]
fn x25519_rejects_small_order_peer_keys() {
    let alice = SecretKey::from_bytes(hex32(ALICE_PRIVATE));
    for (what, u) in SMALL_ORDER {
        let peer = hex32(u);
        assert_eq!(
            alice.agree(&PublicKey(peer)),
            Err(NonContributory),
            "u = {what}"
        );
        // RFC 7748 §5: the receiver masks bit 255, so the same u with that bit set is the same
        // point and must be refused as well.
        let mut high = peer;
        high[31] |= 0x80;
        assert_eq!(
            alice.agree(&PublicKey(high)),
            Err(NonContributory),
            "u = {what} with bit 255 set"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 5869 (HKDF), Appendix A, test cases 1-3 (SHA-256), through the crates `kdf` uses; then
// `kdf::derive` against an independent computation of its documented info layout.
// ---------------------------------------------------------------------------------------------

struct HkdfCase {
    ikm: Vec<u8>,
    salt: Vec<u8>,
    info: Vec<u8>,
    prk: &'static str,
    okm: &'static str,
}

fn rfc5869_cases() -> [HkdfCase; 3] {
    [
        // A.1, Test Case 1: basic test case with SHA-256.
        HkdfCase {
            ikm: vec![0x0b; 22],
            salt: hex("000102030405060708090a0b0c"),
            info: hex("f0f1f2f3f4f5f6f7f8f9"),
            prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
            okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf
                  34007208d5b887185865",
        },
        // A.2, Test Case 2: longer inputs and outputs (IKM 0x00..0x4f, salt 0x60..0xaf,
        // info 0xb0..0xff, L = 82).
        HkdfCase {
            ikm: (0x00..=0x4f).collect(),
            salt: (0x60..=0xaf).collect(),
            info: (0xb0..=0xff).collect(),
            prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
            okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
                  59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
                  cc30c58179ec3e87c14c01d5c1f3434f1d87",
        },
        // A.3, Test Case 3: zero-length salt and info.
        HkdfCase {
            ikm: vec![0x0b; 22],
            salt: Vec::new(),
            info: Vec::new(),
            prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
            okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d
                  9d201395faa4b61a96c8",
        },
    ]
}

#[test]
fn hkdf_sha256_rfc5869_appendix_a() {
    for (i, case) in rfc5869_cases().iter().enumerate() {
        let (prk, hk) = Hkdf::<Sha256>::extract(Some(&case.salt), &case.ikm);
        assert_eq!(prk.as_slice(), hex(case.prk).as_slice(), "case {}", i + 1);
        let expected = hex(case.okm);
        let mut okm = vec![0u8; expected.len()];
        hk.expand(&case.info, &mut okm).unwrap();
        assert_eq!(okm, expected, "case {}", i + 1);
        // The form `kdf::derive` uses.
        let mut okm = vec![0u8; expected.len()];
        Hkdf::<Sha256>::new(Some(&case.salt), &case.ikm)
            .expand(&case.info, &mut okm)
            .unwrap();
        assert_eq!(okm, expected, "case {}", i + 1);
    }
    // Test case 3's empty salt is the same as no salt (RFC 5869 §2.2), which is what
    // `kdf::derive` passes.
    let mut okm = [0u8; 42];
    Hkdf::<Sha256>::new(None, &[0x0b; 22])
        .expand(&[], &mut okm)
        .unwrap();
    assert_eq!(okm.to_vec(), hex(rfc5869_cases()[2].okm));
}

#[test]
fn kdf_derive_is_hkdf_sha256_of_documented_info_layout() {
    // `kdf::derive(label, session, a, b, ikm)` is documented as HKDF-SHA256 with an empty salt,
    // info = label || session (32) || a (u32 BE) || b (u32 BE), 32 bytes out. `DerivedKey` has
    // no public byte accessor, so the derived key is observed through `aead::seal`, whose
    // nonce (0^11 || round) and associated data (session || sender BE || recipient BE ||
    // round) are documented in `aead` and rebuilt here by hand as well.
    let session = SessionId(hex32(
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
    ));
    let (a, b) = (ClientId(0x0102_0304), ClientId(0xfffe_fdfc));
    let ikm = hex(ALICE_BOB_SHARED);
    let labels = [
        kdf::LABEL_SHARE_KEY,
        kdf::LABEL_PAIRWISE_MASK,
        kdf::LABEL_SELF_MASK,
        kdf::LABEL_SELF_MASK_COMMITMENT,
    ];
    for label in labels {
        let mut info = Vec::new();
        info.extend_from_slice(label);
        info.extend_from_slice(&session.0);
        info.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        info.extend_from_slice(&0xfffe_fdfcu32.to_be_bytes());
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&[]), &ikm)
            .expand(&info, &mut key)
            .unwrap();

        for round in [1u8, 4] {
            let ctx = ShareContext {
                session: &session,
                sender: a,
                recipient: b,
                round,
            };
            let ours =
                aead::seal(&kdf::derive(label, &session, a, b, &ikm), &ctx, SUNSCREEN).unwrap();

            let mut nonce = [0u8; 12];
            nonce[11] = round;
            let mut aad = Vec::new();
            aad.extend_from_slice(&session.0);
            aad.extend_from_slice(&0x0102_0304u32.to_be_bytes());
            aad.extend_from_slice(&0xfffe_fdfcu32.to_be_bytes());
            aad.push(round);
            let reference = ChaCha20Poly1305::new(&key.into())
                .encrypt(
                    &nonce.into(),
                    Payload {
                        msg: SUNSCREEN,
                        aad: &aad,
                    },
                )
                .unwrap();
            assert_eq!(
                ours,
                reference,
                "label {}, round {round}",
                String::from_utf8_lossy(label)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 8439 (ChaCha20): §2.3.2 block function, §2.4.2 encryption, Appendix A.1 keystream
// vectors #1 and #2; then the PRG mapping of `prg::apply_mask`.
// ---------------------------------------------------------------------------------------------

/// RFC 8439 §2.3.2, §2.4.2: the key 00 01 .. 1f.
fn rfc8439_key() -> [u8; 32] {
    hex32("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
}

#[test]
fn chacha20_rfc8439_2_3_2_block_function() {
    // Key 00..1f, nonce 000000090000004a00000000, block count 1: the serialized block.
    let expected = hex(
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e
         d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
    );
    let nonce: [u8; 12] = hex("000000090000004a00000000").try_into().unwrap();
    let mut cipher = ChaCha20::new(&rfc8439_key().into(), &nonce.into());
    cipher.seek(64u32);
    let mut block = [0u8; 64];
    cipher.write_keystream(&mut block);
    assert_eq!(block.to_vec(), expected);
}

#[test]
fn chacha20_rfc8439_2_4_2_encryption() {
    // Key 00..1f, nonce 000000000000004a00000000, initial counter 1.
    let expected = hex(
        "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b
         f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8
         07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736
         5af90bbf74a35be6b40b8eedf2785e42874d",
    );
    assert_eq!(SUNSCREEN.len(), 114);
    let nonce: [u8; 12] = hex("000000000000004a00000000").try_into().unwrap();
    let mut cipher = ChaCha20::new(&rfc8439_key().into(), &nonce.into());
    cipher.seek(64u32);
    let mut buf = SUNSCREEN.to_vec();
    cipher.apply_keystream(&mut buf);
    assert_eq!(buf, expected);
}

/// RFC 8439 Appendix A.1, test vectors #1 and #2: key 0, nonce 0, block counters 0 and 1.
const RFC8439_A1_BLOCKS_0_1: &str = "
    76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7
    da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586
    9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed
    29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f";

fn le_u32_words(keystream: &[u8]) -> Vec<u64> {
    keystream
        .chunks_exact(4)
        .map(|w| u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
        .collect()
}

#[test]
fn chacha20_rfc8439_a1_keystream() {
    let mut keystream = [0u8; 128];
    ChaCha20::new(&[0u8; 32].into(), &[0u8; 12].into()).write_keystream(&mut keystream);
    assert_eq!(keystream.to_vec(), hex(RFC8439_A1_BLOCKS_0_1));
}

#[test]
fn prg_mod_2_32_with_zero_seed_is_rfc8439_a1_keystream() {
    // `prg` documents: chunk 0 reads ChaCha20 with key = seed, nonce = 0, counter from 0, as
    // 4-byte little-endian words for m = 2^32. With the all-zero seed that keystream is the
    // published one.
    let m = Modulus::power_of_two(32).unwrap();
    let mut acc = vec![0u64; 32];
    apply_mask(&[0u8; 32], m, Sign::Add, &mut acc);
    m.reduce_lazy(&mut acc);
    assert_eq!(acc, le_u32_words(&hex(RFC8439_A1_BLOCKS_0_1)));
    assert_eq!(acc[0], 0xade0_b876);

    // Subtracting the mask gives its negation mod 2^32.
    let mut acc = vec![0u64; 32];
    apply_mask(&[0u8; 32], m, Sign::Sub, &mut acc);
    m.reduce_lazy(&mut acc);
    let negated: Vec<u64> = le_u32_words(&hex(RFC8439_A1_BLOCKS_0_1))
        .iter()
        .map(|w| (1u64 << 32).wrapping_sub(*w) & 0xffff_ffff)
        .collect();
    assert_eq!(acc, negated);
}

#[test]
fn prg_mod_2_32_chunks_use_documented_nonces() {
    // Chunk j reads the keystream under nonce 00000000 || j (u64 big-endian), counter from 0.
    let seed = rfc8439_key();
    let m = Modulus::power_of_two(32).unwrap();
    let d = 2 * CHUNK_ELEMENTS + 100;
    let mut acc = vec![0u64; d];
    apply_mask(&seed, m, Sign::Add, &mut acc);
    m.reduce_lazy(&mut acc);

    let nonces = [
        "000000000000000000000000",
        "000000000000000000000001",
        "000000000000000000000002",
    ];
    for (j, (nonce, chunk)) in nonces.iter().zip(acc.chunks(CHUNK_ELEMENTS)).enumerate() {
        let nonce: [u8; 12] = hex(nonce).try_into().unwrap();
        let mut keystream = vec![0u8; 4 * chunk.len()];
        ChaCha20::new(&seed.into(), &nonce.into()).write_keystream(&mut keystream);
        assert_eq!(chunk, le_u32_words(&keystream).as_slice(), "chunk {j}");
    }
}

#[test]
fn prg_other_modulus_rejects_out_of_range_words() {
    // m = 1000: b = 10 bits, w = 2 bytes. Each 2-byte little-endian word gives the candidate
    // `word & 0x3ff`; candidates >= 1000 are skipped.
    let seed = rfc8439_key();
    let m = Modulus::new(1000).unwrap();
    let d = 3000;
    let mut acc = vec![0u64; d];
    apply_mask(&seed, m, Sign::Add, &mut acc);

    let mut keystream = vec![0u8; 2 * 4 * d];
    ChaCha20::new(&seed.into(), &[0u8; 12].into()).write_keystream(&mut keystream);
    let expected: Vec<u64> = keystream
        .chunks_exact(2)
        .map(|w| u64::from(u16::from_le_bytes([w[0], w[1]]) & 0x3ff))
        .filter(|x| *x < 1000)
        .take(d)
        .collect();
    assert_eq!(expected.len(), d);
    assert_eq!(acc, expected);
}

// ---------------------------------------------------------------------------------------------
// RFC 8439 §2.8.2 (AEAD_CHACHA20_POLY1305) through the `chacha20poly1305` crate `aead` uses.
// ---------------------------------------------------------------------------------------------

#[test]
fn chacha20poly1305_rfc8439_2_8_2() {
    let key = hex32("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    let nonce: [u8; 12] = hex("070000004041424344454647").try_into().unwrap();
    let aad = hex("50515253c0c1c2c3c4c5c6c7");
    let expected = hex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
         3ff4def08e4b7a9de576d26586cec64b6116
         1ae10b594f09e26a7e902ecbd0600691",
    );
    let cipher = ChaCha20Poly1305::new(&key.into());
    let sealed = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: SUNSCREEN,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(sealed, expected);

    let opened = cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: &sealed,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(opened, SUNSCREEN);

    // One flipped bit anywhere (ciphertext, tag, associated data) fails.
    for i in [
        0,
        57,
        SUNSCREEN.len() - 1,
        SUNSCREEN.len(),
        sealed.len() - 1,
    ] {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        let result = cipher.decrypt(
            &nonce.into(),
            Payload {
                msg: &tampered,
                aad: &aad,
            },
        );
        assert!(result.is_err(), "flipped bit in byte {i}");
    }
    let mut bad_aad = aad.clone();
    bad_aad[0] ^= 0x80;
    let result = cipher.decrypt(
        &nonce.into(),
        Payload {
            msg: &sealed,
            aad: &bad_aad,
        },
    );
    assert!(result.is_err());
}

// ---------------------------------------------------------------------------------------------
// Shamir over the curve25519 scalar field: the polynomial f(x) = 42 + 7x + 3x^2 by hand.
//   f(1) = 52, f(2) = 68, f(3) = 90, f(4) = 118, f(5) = 152.
// Lagrange at 0 for x = 1, 2, 3: l1 = 3, l2 = -3, l3 = 1, so 3*52 - 3*68 + 90 = 42.
// The line through (1, 52) and (2, 68) meets x = 0 at 36 (l1 = 2, l2 = -1: 104 - 68).
// ---------------------------------------------------------------------------------------------

const F: [(u64, u64); 5] = [(1, 52), (2, 68), (3, 90), (4, 118), (5, 152)];

// Any u64 is far below l, so its encoding is always canonical.
#[allow(clippy::unwrap_used)]
fn scalar(v: u64) -> SecretScalar {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&v.to_le_bytes());
    SecretScalar::from_canonical_bytes(bytes).unwrap()
}

fn share(x: u64, y: u64) -> Share {
    Share {
        index: ShareIndex(x),
        value: scalar(y),
    }
}

/// Hands out the polynomial coefficients 7 and 3 to `shamir::split`, which draws each
/// coefficient with `Scalar::random`: 64 bytes read little-endian and reduced mod l. A test
/// fixture that is deliberately not random; it exists only to make `split` reproducible.
struct FixedCoefficients(Vec<u64>);

impl rand_core::TryRng for FixedCoefficients {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unimplemented!("Scalar::random only calls fill_bytes")
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unimplemented!("Scalar::random only calls fill_bytes")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert_eq!(dst.len(), 64, "Scalar::random draws 64 bytes");
        assert!(!self.0.is_empty(), "more coefficients drawn than scripted");
        let c = self.0.remove(0);
        dst.fill(0);
        dst[..8].copy_from_slice(&c.to_le_bytes());
        Ok(())
    }
}

// Only a fixture for the known-answer test below; it makes no security claim.
impl rand_core::TryCryptoRng for FixedCoefficients {}

#[test]
fn shamir_split_evaluates_the_polynomial() {
    let indices: Vec<ShareIndex> = F.iter().map(|(x, _)| ShareIndex(*x)).collect();
    let mut rng = FixedCoefficients(vec![7, 3]);
    let shares = shamir::split(&scalar(42), 3, &indices, &mut rng).unwrap();
    assert!(rng.0.is_empty());
    assert_eq!(shares.len(), 5);
    for (s, (x, y)) in shares.iter().zip(F) {
        assert_eq!(s.index, ShareIndex(x));
        assert_eq!(s.value, scalar(y), "f({x})");
        let mut le = [0u8; 32];
        le[..8].copy_from_slice(&y.to_le_bytes());
        assert_eq!(*s.value.to_bytes(), le, "f({x}) encoding");
    }
}

#[test]
fn shamir_reconstructs_from_hand_made_shares() {
    // Every 3-subset of the five points rebuilds 42.
    for (a, pa) in F.iter().enumerate() {
        for (b, pb) in F.iter().enumerate().skip(a + 1) {
            for pc in F.iter().skip(b + 1) {
                let subset: Vec<Share> = [pa, pb, pc].iter().map(|(x, y)| share(*x, *y)).collect();
                assert_eq!(shamir::reconstruct(&subset, 3).unwrap(), scalar(42));
            }
        }
    }
    // More shares than the threshold also rebuild it.
    let all: Vec<Share> = F.iter().map(|(x, y)| share(*x, *y)).collect();
    assert_eq!(shamir::reconstruct(&all, 3).unwrap(), scalar(42));

    // One set of Lagrange coefficients serves every secret of the same holders: x = 1, 2, 3
    // with f and with g(x) = 5 + x (g(1) = 6, g(2) = 7, g(3) = 8).
    let holders = [ShareIndex(1), ShareIndex(2), ShareIndex(3)];
    let lagrange = Lagrange::new(&holders, 3).unwrap();
    let f_values = [scalar(52), scalar(68), scalar(90)];
    let g_values = [scalar(6), scalar(7), scalar(8)];
    assert_eq!(lagrange.reconstruct(&f_values).unwrap(), scalar(42));
    assert_eq!(lagrange.reconstruct(&g_values).unwrap(), scalar(5));

    // Two points of a degree-2 polynomial interpolate a line: 36, not 42.
    let line = Lagrange::new(&holders[..2], 2).unwrap();
    assert_eq!(line.reconstruct(&f_values[..2]).unwrap(), scalar(36));
    assert_eq!(
        shamir::reconstruct(&[share(1, 52), share(2, 68)], 3),
        Err(ShamirError::TooFewShares { have: 2, need: 3 })
    );
}

#[test]
fn x25519_is_small_order_matches_agree() {
    // `server::AdvertiseKeys::receive` filters keys with `is_small_order`; any key it lets
    // through must give a contributory `agree`, or one client can make every other abort.
    let alice = SecretKey::from_bytes(hex32(ALICE_PRIVATE));
    for (what, u) in SMALL_ORDER {
        let mut high = hex32(u);
        high[31] |= 0x80;
        for peer in [PublicKey(hex32(u)), PublicKey(high)] {
            assert_eq!(alice.agree(&peer), Err(NonContributory), "u = {what}");
            assert!(peer.is_small_order(), "u = {what}: {peer:?}");
        }
    }
    assert!(!PublicKey(hex32(ALICE_PUBLIC)).is_small_order());
    assert!(!PublicKey(hex32(BOB_PUBLIC)).is_small_order());
}

/// NIST SP 800-38A, F.5.1 (CTR-AES128.Encrypt), first block, through the `aes` and `ctr`
/// crates that the AES-128-CTR mask suite uses.
#[test]
fn aes128_ctr_sp800_38a_f51() {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
    let key: [u8; 16] = hex16("2b7e151628aed2a6abf7158809cf4f3c");
    let iv: [u8; 16] = hex16("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    let mut block = hex16("6bc1bee22e409f96e93d7e117393172a");
    Aes128Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut block);
    assert_eq!(block, hex16("874d6191b620e3261bef6864990db6ce"));
}

fn hex16(s: &str) -> [u8; 16] {
    hex(s).try_into().unwrap()
}
