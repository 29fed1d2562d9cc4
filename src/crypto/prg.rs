//! Mask expansion: a 32-byte seed to `d` elements uniform in `Z_m`, added into an accumulator
//! as they are generated.
//!
//! # The mapping, bit for bit
//! Let `b = ceil(log2 m)` and `w = ceil(b / 8)` bytes. The vector is cut into chunks of
//! [`CHUNK_ELEMENTS`] elements; chunk `j` (from 0) reads the ChaCha20 keystream (RFC 8439,
//! 20 rounds) with key = seed, nonce = `0x00000000 || j as u64 big-endian`, block counter
//! from 0. The keystream is read as consecutive `w`-byte little-endian words `x`; each word
//! gives the candidate `x mod 2^b` (the low `b` bits). A candidate below `m` is the next
//! element of the chunk; a candidate `>= m` is skipped (rejection sampling, so every element
//! is exactly uniform; for `m = 2^b` no candidate is ever skipped). For `m = 2^64`,
//! `b = 64` and `w = 8`. Chunks make the mask seekable: any chunk can be expanded without
//! the ones before it.
//!
//! If the `2^32`-block keystream of one chunk were exhausted before the chunk is full (the
//! probability is below `2^-(2^30)`), the remaining elements of that chunk are `0`. Both
//! sides compute the same function, so masks still cancel.

use alloc::boxed::Box;

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};

/// AES-128 in counter mode with a 128-bit big-endian counter.
type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// The stream cipher a session expands its masks with. Chosen per session in
/// [`crate::Params`] and bound into the derivation of every mask seed (each suite has its own
/// labels), so a seed is never expanded by two ciphers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Suite {
    /// ChaCha20 (RFC 8439): key = the 32-byte seed, nonce = `0^4 || BE64(j)` for chunk `j`,
    /// block counter from 0. Fast everywhere, constant-time in software.
    #[default]
    ChaCha20,
    /// AES-128-CTR: key = the first 16 bytes of the seed, initial counter block =
    /// `BE64(j) || 0^8` for chunk `j`, incremented as one 128-bit big-endian integer. Fastest
    /// where the processor has AES instructions (detected at run time by the `aes` crate,
    /// which otherwise falls back to a constant-time bitsliced implementation).
    Aes128Ctr,
}
use zeroize::Zeroizing;

use crate::arith::Modulus;

/// Elements per independently seekable chunk of a mask.
pub const CHUNK_ELEMENTS: usize = 4096;

/// Whether the expanded mask is added to or subtracted from the accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// `acc += mask`.
    Add,
    /// `acc -= mask`.
    Sub,
}

impl Sign {
    /// The opposite sign.
    #[must_use]
    pub fn flip(self) -> Self {
        match self {
            Self::Add => Self::Sub,
            Self::Sub => Self::Add,
        }
    }
}

/// Adds (or subtracts) the mask expanded from `seed` into `acc`, element by element.
///
/// For `m = 2^b` the accumulator is kept modulo `2^64` (which `2^b` divides): the caller
/// reduces once at the end with [`Modulus::reduce_lazy`]. For other `m` every element stays
/// reduced below `m`.
pub fn apply_mask(seed: &[u8; 32], modulus: Modulus, sign: Sign, acc: &mut [u64]) {
    apply_mask_with(Suite::ChaCha20, seed, modulus, sign, acc);
}

/// [`apply_mask`] with the keystream of `suite`.
pub fn apply_mask_with(
    suite: Suite,
    seed: &[u8; 32],
    modulus: Modulus,
    sign: Sign,
    acc: &mut [u64],
) {
    let mut keystream = Keystream::new();
    for (j, chunk) in acc.chunks_mut(CHUNK_ELEMENTS).enumerate() {
        keystream.apply_chunk(suite, seed, modulus, sign, j as u64, chunk);
    }
}

/// Bytes of keystream generated per refill: `W * WORDS_PER_REFILL` for `W`-byte words.
const KEYSTREAM_BYTES: usize = 8 * WORDS_PER_REFILL;

/// A keystream buffer and a staging sum of masks, reused across chunks and masks (zeroing
/// and zeroizing them once per chunk would cost as much as a quarter of the keystream
/// itself), zeroized on drop.
struct Keystream {
    buf: Box<Zeroizing<[u8; KEYSTREAM_BYTES]>>,
    staging: Option<Box<Zeroizing<[u32; CHUNK_ELEMENTS]>>>,
}

impl Keystream {
    fn new() -> Self {
        Self {
            buf: Box::new(Zeroizing::new([0u8; KEYSTREAM_BYTES])),
            staging: None,
        }
    }

    /// Adds chunk `j` of every mask into `acc` through a 32-bit staging sum: each mask is
    /// added into the staging sum (`u32` lanes, half the bytes of the accumulator's), and the
    /// staging sum into the accumulator once. For `m = 2^b` with `b <= 32` only: the
    /// accumulator is kept modulo `2^64` and the staging sum modulo `2^32`, both multiples
    /// of `m`, so the result is the same as adding each mask into `acc`.
    fn apply_chunk_staged(
        &mut self,
        suite: Suite,
        masks: &[SeededMask],
        width: u32,
        j: u64,
        acc: &mut [u64],
    ) {
        let staging = self
            .staging
            .get_or_insert_with(|| Box::new(Zeroizing::new([0u32; CHUNK_ELEMENTS])));
        let (buf, staging) = (&mut **self.buf, &mut ***staging);
        match (suite, width) {
            (Suite::ChaCha20, 1) => staged::<1, _>(chacha20_chunk, masks, j, acc, buf, staging),
            (Suite::ChaCha20, 2) => staged::<2, _>(chacha20_chunk, masks, j, acc, buf, staging),
            (Suite::ChaCha20, 3) => staged::<3, _>(chacha20_chunk, masks, j, acc, buf, staging),
            (Suite::ChaCha20, _) => staged::<4, _>(chacha20_chunk, masks, j, acc, buf, staging),
            (Suite::Aes128Ctr, 1) => staged::<1, _>(aes128ctr_chunk, masks, j, acc, buf, staging),
            (Suite::Aes128Ctr, 2) => staged::<2, _>(aes128ctr_chunk, masks, j, acc, buf, staging),
            (Suite::Aes128Ctr, 3) => staged::<3, _>(aes128ctr_chunk, masks, j, acc, buf, staging),
            (Suite::Aes128Ctr, _) => staged::<4, _>(aes128ctr_chunk, masks, j, acc, buf, staging),
        }
    }

    fn apply_chunk(
        &mut self,
        suite: Suite,
        seed: &[u8; 32],
        modulus: Modulus,
        sign: Sign,
        j: u64,
        acc: &mut [u64],
    ) {
        match suite {
            Suite::ChaCha20 => self.apply(chacha20_chunk(seed, j), modulus, sign, acc),
            Suite::Aes128Ctr => self.apply(aes128ctr_chunk(seed, j), modulus, sign, acc),
        }
    }

    fn apply<C: StreamCipher>(&mut self, cipher: C, modulus: Modulus, sign: Sign, acc: &mut [u64]) {
        let buf = &mut **self.buf;
        // One monomorphised loop per word width, so the hot loop reads fixed-size words.
        match modulus.bits().div_ceil(8) {
            1 => chunk_words::<1, C>(cipher, modulus, sign, acc, buf),
            2 => chunk_words::<2, C>(cipher, modulus, sign, acc, buf),
            3 => chunk_words::<3, C>(cipher, modulus, sign, acc, buf),
            4 => chunk_words::<4, C>(cipher, modulus, sign, acc, buf),
            5 => chunk_words::<5, C>(cipher, modulus, sign, acc, buf),
            6 => chunk_words::<6, C>(cipher, modulus, sign, acc, buf),
            7 => chunk_words::<7, C>(cipher, modulus, sign, acc, buf),
            _ => chunk_words::<8, C>(cipher, modulus, sign, acc, buf),
        }
    }
}

/// The ChaCha20 instance of chunk `j`: key = seed, nonce = `0^4 || BE64(j)`.
fn chacha20_chunk(seed: &[u8; 32], j: u64) -> ChaCha20 {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&j.to_be_bytes());
    ChaCha20::new(seed.into(), &nonce.into())
}

/// The AES-128-CTR instance of chunk `j`: key = the first 16 bytes of the seed, initial
/// counter block = `BE64(j) || 0^8`.
fn aes128ctr_chunk(seed: &[u8; 32], j: u64) -> Aes128Ctr {
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&seed[..16]);
    let mut iv = [0u8; 16];
    iv[..8].copy_from_slice(&j.to_be_bytes());
    Aes128Ctr::new(&(*key).into(), &iv.into())
}

/// Writes the raw keystream of chunk `j` of the mask seeded by `seed` into `out`, with
/// nothing added: the baseline the mask kernel is measured against (it reads the same
/// cipher, keyed the same way, from the same chunk).
pub fn write_chunk_keystream(suite: Suite, seed: &[u8; 32], j: u64, out: &mut [u8]) {
    // The keystream of one chunk is 2^38 bytes or more; longer requests are cut short.
    let _ = match suite {
        Suite::ChaCha20 => chacha20_chunk(seed, j).try_write_keystream(out),
        Suite::Aes128Ctr => aes128ctr_chunk(seed, j).try_write_keystream(out),
    };
}

/// One mask to apply: its seed and sign. The seed is secret: it is private, never copied by
/// a `Clone`, and zeroized on drop.
///
/// ```compile_fail
/// # use secagg::hazmat::prg::{SeededMask, Sign};
/// let mask = SeededMask::new(&[1; 32], Sign::Add);
/// let seed: [u8; 32] = mask.seed; // private: does not compile
/// ```
pub struct SeededMask {
    /// The key of the mask's keystream.
    seed: [u8; 32],
    /// Whether it is added or subtracted.
    sign: Sign,
}

impl SeededMask {
    /// The mask expanded from `seed`, added or subtracted as `sign` says. The caller's copy
    /// of `seed` is its own to wipe.
    #[must_use]
    pub fn new(seed: &[u8; 32], sign: Sign) -> Self {
        Self { seed: *seed, sign }
    }

    /// Whether the mask is added or subtracted.
    #[must_use]
    pub fn sign(&self) -> Sign {
        self.sign
    }

    /// Moves the mask out, wiping this one: a move that leaves no copy of the seed behind
    /// in the storage it came from.
    #[must_use]
    pub(crate) fn take(&mut self) -> Self {
        let taken = Self::new(&self.seed, self.sign);
        zeroize::Zeroize::zeroize(self);
        taken
    }
}

impl core::fmt::Debug for SeededMask {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SeededMask")
            .field("sign", &self.sign)
            .finish_non_exhaustive()
    }
}

impl zeroize::Zeroize for SeededMask {
    fn zeroize(&mut self) {
        self.seed.zeroize();
    }
}

impl Drop for SeededMask {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self);
    }
}

/// Adds (or subtracts) many masks into `acc`, cache-blocked: the accumulator is walked one
/// chunk at a time, and every mask adds its own chunk `j` into chunk `j` of the accumulator
/// (the keystream of a chunk is independent of the others), so each part of the sum stays in
/// cache while all the masks touch it. With the `parallel` feature, chunks are spread over
/// cores. The result is the same as calling [`apply_mask`] once per mask.
pub fn apply_masks(masks: &[SeededMask], suite: Suite, modulus: Modulus, acc: &mut [u64]) {
    let staged_width = modulus
        .power_of_two_bits()
        .filter(|b| *b <= 32)
        .map(|b| b.div_ceil(8));
    let block = |keystream: &mut Keystream, (j, chunk): (usize, &mut [u64])| {
        if let Some(width) = staged_width {
            keystream.apply_chunk_staged(suite, masks, width, j as u64, chunk);
            return;
        }
        for mask in masks {
            keystream.apply_chunk(suite, &mask.seed, modulus, mask.sign, j as u64, chunk);
        }
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        acc.par_chunks_mut(CHUNK_ELEMENTS)
            .enumerate()
            .for_each_init(Keystream::new, block);
    }
    #[cfg(not(feature = "parallel"))]
    {
        let mut keystream = Keystream::new();
        acc.chunks_mut(CHUNK_ELEMENTS)
            .enumerate()
            .for_each(|item| block(&mut keystream, item));
    }
}

/// Expands chunk `j` of the mask into `acc` (which holds that chunk's elements).
pub fn apply_chunk(seed: &[u8; 32], modulus: Modulus, sign: Sign, j: u64, acc: &mut [u64]) {
    Keystream::new().apply_chunk(Suite::ChaCha20, seed, modulus, sign, j, acc);
}

/// Words per keystream buffer refill: `W * 2048` bytes is a whole number of 64-byte blocks
/// and of `W`-byte words, so word boundaries never depend on the buffer size. For 4-byte
/// words a refill is 8 KiB, which stays in L1 with the part of the accumulator it is added
/// to, and is few enough calls into the cipher that their overhead does not show.
const WORDS_PER_REFILL: usize = 2048;

fn chunk_words<const W: usize, C: StreamCipher>(
    mut cipher: C,
    modulus: Modulus,
    sign: Sign,
    acc: &mut [u64],
    keystream: &mut [u8; KEYSTREAM_BYTES],
) {
    let low_bits = u64::MAX >> (64 - modulus.bits());
    let keystream = &mut keystream[..W * WORDS_PER_REFILL];
    match modulus.odd_modulus() {
        None => {
            for part in acc.chunks_mut(WORDS_PER_REFILL) {
                let used = &mut keystream[..part.len() * W];
                if cipher.try_write_keystream(used).is_err() {
                    return;
                }
                // `used` is a whole number of words, so `as_chunks` leaves no remainder.
                let words = used.as_chunks::<W>().0;
                // mod 2^64 by design; reduced mod 2^b by the caller (2^b divides 2^64).
                match sign {
                    Sign::Add => {
                        for (a, w) in part.iter_mut().zip(words) {
                            *a = a.wrapping_add(read_le(w) & low_bits);
                        }
                    }
                    Sign::Sub => {
                        for (a, w) in part.iter_mut().zip(words) {
                            *a = a.wrapping_sub(read_le(w) & low_bits);
                        }
                    }
                }
            }
        }
        Some(m) => {
            let mut filled = 0;
            while filled < acc.len() {
                if cipher.try_write_keystream(keystream).is_err() {
                    return;
                }
                let accepted = keystream
                    .as_chunks::<W>()
                    .0
                    .iter()
                    .map(|w| read_le(w) & low_bits)
                    .filter(|x| *x < m);
                for (a, x) in acc.iter_mut().skip(filled).zip(accepted) {
                    *a = match sign {
                        Sign::Add => modulus.add(*a, x),
                        Sign::Sub => modulus.sub(*a, x),
                    };
                    filled += 1;
                }
            }
        }
    }
}

/// Chunk `j` of every mask added into `acc` (at most [`CHUNK_ELEMENTS`] elements) through the
/// staging sum, for `m = 2^b` with `b <= 32` and `W = ceil(b / 8)`.
fn staged<const W: usize, C: StreamCipher>(
    cipher: fn(&[u8; 32], u64) -> C,
    masks: &[SeededMask],
    j: u64,
    acc: &mut [u64],
    keystream: &mut [u8; KEYSTREAM_BYTES],
    staging: &mut [u32; CHUNK_ELEMENTS],
) {
    let n = acc.len().min(CHUNK_ELEMENTS);
    let (acc, staging, keystream) = (&mut acc[..n], &mut staging[..n], &mut keystream[..n * W]);
    staging.fill(0);
    for mask in masks {
        // Cannot fail: a chunk reads at most 16 KiB of a keystream of 2^38 bytes or more.
        if cipher(&mask.seed, j)
            .try_write_keystream(keystream)
            .is_err()
        {
            continue;
        }
        // Whole words only (`n * W` bytes); the low `b` bits of each word are the element,
        // and the bits above them vanish in the final reduction mod 2^b.
        let words = keystream.as_chunks::<W>().0;
        match mask.sign {
            Sign::Add => {
                for (s, w) in staging.iter_mut().zip(words) {
                    *s = s.wrapping_add(read_le32(w));
                }
            }
            Sign::Sub => {
                for (s, w) in staging.iter_mut().zip(words) {
                    *s = s.wrapping_sub(read_le32(w));
                }
            }
        }
    }
    for (a, s) in acc.iter_mut().zip(staging.iter()) {
        *a = a.wrapping_add(u64::from(*s));
    }
}

/// A `W`-byte little-endian word (`W <= 4`).
#[inline(always)]
fn read_le32<const W: usize>(word: &[u8; W]) -> u32 {
    if let Ok(w) = <&[u8; 4]>::try_from(word.as_slice()) {
        return u32::from_le_bytes(*w);
    }
    let mut x = [0u8; 4];
    if let Some(low) = x.get_mut(..W) {
        low.copy_from_slice(word);
    }
    u32::from_le_bytes(x)
}

/// A `W`-byte little-endian word (`W <= 8`).
#[inline(always)]
fn read_le<const W: usize>(word: &[u8; W]) -> u64 {
    // The common widths as single loads (the conversions are resolved at compile time).
    if let Ok(w) = <&[u8; 4]>::try_from(word.as_slice()) {
        return u64::from(u32::from_le_bytes(*w));
    }
    if let Ok(w) = <&[u8; 8]>::try_from(word.as_slice()) {
        return u64::from_le_bytes(*w);
    }
    let mut x = [0u8; 8];
    if let Some(low) = x.get_mut(..W) {
        low.copy_from_slice(word);
    }
    u64::from_le_bytes(x)
}

impl Modulus {
    /// Brings an accumulator kept by [`apply_mask`] into `[0, m)`.
    pub fn reduce_lazy(self, acc: &mut [u64]) {
        if self.power_of_two_bits().is_some() {
            let mask = self.max_element();
            for a in acc {
                *a &= mask;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(seed: &[u8; 32], m: Modulus, d: usize) -> Vec<u64> {
        let mut v = vec![0u64; d];
        apply_mask(seed, m, Sign::Add, &mut v);
        m.reduce_lazy(&mut v);
        v
    }

    #[test]
    fn power_of_two_takes_low_bits_of_keystream() {
        let seed = [7u8; 32];
        let m = Modulus::power_of_two(32).unwrap();
        let v = expand(&seed, m, 20);
        let mut ks = [0u8; 80];
        ChaCha20::new((&seed).into(), &[0u8; 12].into()).write_keystream(&mut ks);
        for (i, x) in v.iter().enumerate() {
            let w = u32::from_le_bytes(ks[4 * i..4 * i + 4].try_into().unwrap());
            assert_eq!(*x, u64::from(w));
        }
        let m12 = Modulus::power_of_two(12).unwrap();
        let v = expand(&seed, m12, 10);
        for (i, x) in v.iter().enumerate() {
            let w = u16::from_le_bytes(ks[2 * i..2 * i + 2].try_into().unwrap());
            assert_eq!(*x, u64::from(w & 0x0fff));
        }
    }

    #[test]
    fn rejection_sampling_skips_out_of_range_words() {
        let seed = [9u8; 32];
        let m = Modulus::new(5).unwrap(); // b = 3, w = 1
        let v = expand(&seed, m, 50);
        let mut ks = [0u8; 256];
        ChaCha20::new((&seed).into(), &[0u8; 12].into()).write_keystream(&mut ks);
        let expected: Vec<u64> = ks
            .iter()
            .map(|b| u64::from(b & 7))
            .filter(|x| *x < 5)
            .take(50)
            .collect();
        assert_eq!(v, expected);
    }

    #[test]
    fn chunks_use_their_own_nonce() {
        let seed = [3u8; 32];
        let m = Modulus::power_of_two(64).unwrap();
        let v = expand(&seed, m, CHUNK_ELEMENTS + 2);
        let mut nonce = [0u8; 12];
        nonce[11] = 1;
        let mut ks = [0u8; 16];
        ChaCha20::new((&seed).into(), &nonce.into()).write_keystream(&mut ks);
        assert_eq!(
            v[CHUNK_ELEMENTS],
            u64::from_le_bytes(ks[..8].try_into().unwrap())
        );
        assert_eq!(
            v[CHUNK_ELEMENTS + 1],
            u64::from_le_bytes(ks[8..].try_into().unwrap())
        );
    }

    #[test]
    fn blocked_masks_equal_one_by_one() {
        for m in [
            Modulus::power_of_two(32).unwrap(),
            Modulus::new(1_000_003).unwrap(),
        ] {
            let masks = [
                ([1u8; 32], Sign::Add),
                ([2; 32], Sign::Sub),
                ([3; 32], Sign::Add),
            ]
            .map(|(seed, sign)| SeededMask::new(&seed, sign));
            let mut one_by_one = vec![5u64; 3 * CHUNK_ELEMENTS + 17];
            let mut blocked = one_by_one.clone();
            for mask in &masks {
                apply_mask(&mask.seed, m, mask.sign, &mut one_by_one);
            }
            apply_masks(&masks, Suite::ChaCha20, m, &mut blocked);
            m.reduce_lazy(&mut one_by_one);
            m.reduce_lazy(&mut blocked);
            assert_eq!(one_by_one, blocked);
        }
    }

    #[test]
    fn staged_sum_equals_one_by_one_for_every_width_and_suite() {
        // The staged kernel (b <= 32) keeps a 32-bit sum per element and wraps it many times
        // over: 40 masks of mixed signs, a length that ends inside a chunk and a segment.
        let masks: Vec<SeededMask> = (0u8..40)
            .map(|i| SeededMask::new(&[i; 32], if i % 3 == 0 { Sign::Sub } else { Sign::Add }))
            .collect();
        for bits in [1, 7, 8, 12, 16, 17, 24, 25, 31, 32] {
            let m = Modulus::power_of_two(bits).unwrap();
            for suite in [Suite::ChaCha20, Suite::Aes128Ctr] {
                let start: Vec<u64> = (0..2 * CHUNK_ELEMENTS as u64 + 2049)
                    .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & m.max_element())
                    .collect();
                let mut one_by_one = start.clone();
                for mask in &masks {
                    apply_mask_with(suite, &mask.seed, m, mask.sign, &mut one_by_one);
                }
                let mut staged = start;
                apply_masks(&masks, suite, m, &mut staged);
                m.reduce_lazy(&mut one_by_one);
                m.reduce_lazy(&mut staged);
                assert_eq!(one_by_one, staged, "2^{bits} {suite:?}");
            }
        }
    }

    #[test]
    fn aes_suite_reads_the_aes_ctr_keystream() {
        let seed = [7u8; 32];
        let m = Modulus::power_of_two(32).unwrap();
        let mut v = vec![0u64; CHUNK_ELEMENTS + 2];
        apply_mask_with(Suite::Aes128Ctr, &seed, m, Sign::Add, &mut v);
        m.reduce_lazy(&mut v);
        let key: [u8; 16] = seed[..16].try_into().unwrap();
        for (j, at) in [(0u64, 0usize), (1, CHUNK_ELEMENTS)] {
            let mut iv = [0u8; 16];
            iv[..8].copy_from_slice(&j.to_be_bytes());
            let mut ks = [0u8; 8];
            Aes128Ctr::new(&key.into(), &iv.into()).write_keystream(&mut ks);
            assert_eq!(
                v[at],
                u64::from(u32::from_le_bytes(ks[..4].try_into().unwrap()))
            );
            assert_eq!(
                v[at + 1],
                u64::from(u32::from_le_bytes(ks[4..].try_into().unwrap()))
            );
        }
        let mut chacha = vec![0u64; 8];
        apply_mask(&seed, m, Sign::Add, &mut chacha);
        m.reduce_lazy(&mut chacha);
        assert_ne!(chacha[..8], v[..8]);
    }

    #[test]
    fn add_then_sub_cancels() {
        for m in [
            Modulus::power_of_two(1).unwrap(),
            Modulus::power_of_two(17).unwrap(),
            Modulus::power_of_two(64).unwrap(),
            Modulus::new(3).unwrap(),
            Modulus::new(1_000_003).unwrap(),
            Modulus::new(u64::MAX).unwrap(),
        ] {
            let mut acc = vec![0u64; 5000];
            apply_mask(&[1; 32], m, Sign::Add, &mut acc);
            apply_mask(&[1; 32], m, Sign::Sub, &mut acc);
            m.reduce_lazy(&mut acc);
            assert!(acc.iter().all(|x| *x == 0), "{m:?}");
            let v = expand(&[2; 32], m, 5000);
            assert!(v.iter().all(|x| m.contains(*x)));
        }
    }

    #[test]
    fn elements_look_uniform_for_odd_modulus() {
        let m = Modulus::new(10).unwrap();
        let v = expand(&[5; 32], m, 100_000);
        let mut counts = [0usize; 10];
        for x in v {
            counts[usize::try_from(x).unwrap()] += 1;
        }
        // Each count is Binomial(1e5, 0.1): mean 10,000, sd 95. 8 sd is a bound that never
        // flakes and still catches a biased reduction (x mod 10 over 4 bits gives 12.5%/6.25%).
        for c in counts {
            assert!((9_240..=10_760).contains(&c), "{counts:?}");
        }
    }
}
