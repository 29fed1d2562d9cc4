//! The cryptographic building blocks, each in one place: key agreement, key derivation,
//! mask expansion, share encryption and Shamir sharing.

pub mod aead;
pub mod kdf;
pub mod kx;
pub mod prg;
pub mod shamir;
pub mod sign;
