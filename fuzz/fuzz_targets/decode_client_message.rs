//! `decode_client_message`: see `secagg::fuzzing::decode_client_message` for the input layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::fuzzing::decode_client_message(data));
