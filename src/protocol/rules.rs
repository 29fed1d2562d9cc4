//! The two checks both roles make, in one place: enough clients left for the threshold, and a
//! call that belongs to the session's threat model.

use crate::error::{AbortReason, ApiMisuse, Error};
use crate::params::Params;
use crate::vocabulary::Round;

/// `Ok` if `have` clients reach the threshold `t`, else `Abort(TooFewSurvivors)`.
///
/// SECURITY: with fewer than `t` live clients a server could learn an individual input (and
/// the round cannot finish anyway): an honest client stops here, and the server aborts rather
/// than ask for shares it cannot use.
pub(crate) fn enough(params: &Params, have: usize, round: Round) -> Result<(), Error> {
    if have < params.threshold() {
        return Err(AbortReason::TooFewSurvivors {
            round,
            have,
            need: params.threshold(),
        }
        .into());
    }
    Ok(())
}

/// The error of a call that belongs to the other threat model (ConsistencyCheck against an
/// honest-but-curious server, or skipping it against a malicious one).
pub(crate) fn wrong_model(params: &Params) -> Error {
    ApiMisuse::WrongThreatModel {
        session: params.threat_model(),
    }
    .into()
}
