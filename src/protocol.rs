//! The protocol of Bonawitz et al., CCS 2017 ("Practical Secure Aggregation"), sans-IO.
//!
//! Rounds, in order: [`Round::AdvertiseKeys`] (0), [`Round::ShareKeys`] (1),
//! [`Round::MaskedInput`] (2, "MaskedInputCollection"), [`Round::Consistency`] (3, reserved
//! for the malicious-server mode) and [`Round::Unmasking`] (4). The [`client`] and
//! [`server`] modules hold one struct per round; each client transition consumes its state.

pub mod client;
mod derive;
pub mod graph;
pub mod messages;
pub mod roster_tree;
mod rules;
pub mod server;
pub mod session;
pub mod state;
mod transcript;

pub use crate::vocabulary::Round;
