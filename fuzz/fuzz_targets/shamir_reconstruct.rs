//! `shamir_reconstruct`: see `secagg::fuzzing::shamir_reconstruct` for the input layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::fuzzing::shamir_reconstruct(data));
