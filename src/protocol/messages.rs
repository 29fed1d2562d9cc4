//! The typed messages of every round, as the protocol reads and writes them. They are
//! defined (and encoded) by [`crate::wire`], the layer below; this module names them for the
//! protocol's users.

pub use crate::wire::{
    AdvertiseKeys, ConsistencyRequest, ConsistencySignature, HEADER_LEN, MaskedInput, Roster,
    RosterSlice, SEALED_SHARES_LEN, SealedShares, ShareKeys, SharesDelivery, SurvivorSlice,
    UnmaskingRequest, UnmaskingResponse,
};
