//! `unpack_vector`: see `secagg::fuzzing::unpack_vector` for the input layout and the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::fuzzing::unpack_vector(data));
