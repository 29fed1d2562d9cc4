//! `client_session`: see `secagg::fuzzing::client_session` for the input layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::fuzzing::client_session(data));
