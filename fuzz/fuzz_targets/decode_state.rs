//! `decode_state`: see `secagg::fuzzing::decode_state` for the input layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::fuzzing::decode_state(data));
