//! `server_session`: see `secagg::fuzzing::server_session` for the input layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::fuzzing::server_session(data));
