//! The protocol of Bonawitz et al., CCS 2017 ("Practical Secure Aggregation"), sans-IO.
//!
//! Rounds, in order: [`Round::AdvertiseKeys`] (0), [`Round::ShareKeys`] (1),
//! [`Round::MaskedInput`] (2, "MaskedInputCollection"), [`Round::Consistency`] (3, reserved
//! for the malicious-server mode) and [`Round::Unmasking`] (4). The [`client`] and
//! [`server`] modules hold one struct per round; each client transition consumes its state.

use core::fmt;

pub mod client;
pub mod graph;
pub mod messages;
pub mod server;
pub mod session;

/// A protocol round, numbered as in Bonawitz et al., CCS 2017, Fig. 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Round {
    /// Round 0: each client advertises its two public keys.
    AdvertiseKeys = 0,
    /// Round 1: each client sends encrypted Shamir shares to every peer.
    ShareKeys = 1,
    /// Round 2: each client sends its masked input (MaskedInputCollection).
    MaskedInput = 2,
    /// Round 3: survivors sign the survivor set (malicious-server mode; not yet implemented).
    Consistency = 3,
    /// Round 4: survivors reveal the shares that remove the masks.
    Unmasking = 4,
}

impl Round {
    /// The round number as bound into associated data.
    #[must_use]
    pub fn number(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Round {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AdvertiseKeys => "advertise_keys",
            Self::ShareKeys => "share_keys",
            Self::MaskedInput => "masked_input",
            Self::Consistency => "consistency",
            Self::Unmasking => "unmasking",
        })
    }
}
