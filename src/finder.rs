//! Choosing the neighbourhood degree `k` and threshold `t` of SecAgg+ (Bell et al., CCS 2020).
//!
//! SecAgg+ replaces the complete graph of SecAgg by a random Harary graph of degree
//! `k = O(log n)`: a client masks pairwise against, and Shamir-shares its secrets with, its `k`
//! neighbours (plus a share it keeps itself, so `k + 1` share holders). [`find`] returns the
//! smallest even `k` for which, with at most `ceil(δ n)` dropped and `ceil(γ n)` corrupt
//! clients chosen independently of the graph's random labelling,
//!
//! * **security** fails with probability at most `2^-σ`: split evenly between "some honest
//!   client has too many corrupt share holders" and "the honest survivors are disconnected";
//! * **correctness** fails with probability at most `2^-η`: "some client keeps fewer than `t`
//!   surviving neighbours".
//!
//! and a threshold `t` meeting both. Against an honest-but-curious server that is the
//! model's condition alone: `t` above the number of corrupt share holders (Bonawitz et al.,
//! CCS 2017, Theorem 6.2, per neighbourhood as in Bell et al.), and at least 2; with
//! [`FinderInput::require_majority`] also a strict majority of the holders (defence in depth,
//! [`crate::ParamsBuilder::require_majority`]). Against a malicious server, `2t` above the
//! holders plus the corrupt ones, and never below the crate's floor of more than two thirds
//! of the holders ([`crate::Params`]). Where no sparse degree works,
//! or the sparse graph would need every other client anyway, it falls back to the complete
//! graph with its exact (not probabilistic) thresholds. The bounds and their derivations are
//! in `docs/FINDER.md`.
//!
//! The bounds assume that which clients are corrupt or drop out does not depend on the
//! graph's labelling. A malicious server can break that assumption (by choosing who counts as
//! dropped after seeing the graph, or by grinding the roster that seeds the labelling); see
//! `docs/FINDER.md`, "Limits", before relying on a sparse graph against one.
//!
//! Each degree is checked with hypergeometric tail sums taken term by term in log space (not
//! a normal or Chernoff approximation), over the `O(sqrt(k))` terms that matter (the far tail
//! is bounded by Hoeffding's inequality), and
//! log-factorials from Stirling's series, so a check costs `O(sqrt(k))` whatever `n`: about
//! 0.1 ms for `n = 10^6` at 5 % dropout and corruption, and a few milliseconds even where no
//! sparse degree exists. The module needs `std` for `f64::ln`, `exp` and `sqrt`.
#![cfg(feature = "std")]

use core::fmt;

pub use crate::vocabulary::ThreatModel;

// The graph `find` chooses is the crate's `Neighbourhood`, ready for
// `ParamsBuilder::neighbours`.
use crate::vocabulary::Neighbourhood as GraphKind;

/// The default statistical security parameter `σ`: security fails with probability at most
/// `2^-40`.
pub const DEFAULT_SIGMA: u32 = 40;

/// The default correctness parameter `η`: a session fails to unmask with probability at most
/// `2^-20`.
pub const DEFAULT_ETA: u32 = 20;

/// The largest number of clients [`find`] accepts: what a session takes
/// ([`MAX_CLIENTS`](crate::MAX_CLIENTS)), and low enough that the rounding error of the
/// log-factorials (about `n ln n * 2^-53`) stays below `10^-7`.
pub const MAX_FINDER_CLIENTS: usize = 1 << 24;

/// The degree up to which [`find`] tries every even degree; beyond it, it doubles and then
/// bisects (see `docs/FINDER.md`, "Search").
const LINEAR_SCAN_MAX_K: usize = 4096;

/// What [`find`] is asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FinderInput {
    /// The number of clients `n` in the session.
    pub clients: usize,
    /// The largest fraction `δ` of clients that may drop out (or otherwise fail to answer,
    /// corrupt ones included), in `[0, 1)`.
    pub dropout: f64,
    /// The largest fraction `γ` of clients that may be corrupt (colluding with the server),
    /// in `[0, 1)`.
    pub corrupt: f64,
    /// Whom the server is assumed to be.
    pub threat: ThreatModel,
    /// Security fails with probability at most `2^-sigma`. Default [`DEFAULT_SIGMA`].
    pub sigma: u32,
    /// Correctness fails with probability at most `2^-eta`. Default [`DEFAULT_ETA`].
    pub eta: u32,
    /// Against an honest-but-curious server, also require a threshold that is a strict
    /// majority of the share holders (defence in depth; see
    /// [`ParamsBuilder::require_majority`](crate::ParamsBuilder::require_majority) for what it
    /// protects against). Default `false`: the model's condition alone. No effect against a
    /// malicious server, whose threshold is above two thirds anyway.
    pub require_majority: bool,
}

impl FinderInput {
    /// The input for `clients` clients with dropout rate `dropout`, corruption rate
    /// `corrupt`, the default `σ = 40`, `η = 20`, and no majority requirement.
    #[must_use]
    pub fn new(clients: usize, dropout: f64, corrupt: f64, threat: ThreatModel) -> Self {
        Self {
            clients,
            dropout,
            corrupt,
            threat,
            sigma: DEFAULT_SIGMA,
            eta: DEFAULT_ETA,
            require_majority: false,
        }
    }
}

/// What [`find`] chose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GraphParams {
    /// The graph: a random Harary graph of even degree `k`, or the complete graph.
    pub graph: GraphKind,
    /// The degree, not counting the client itself (`n - 1` for the complete graph).
    pub k: usize,
    /// The Shamir threshold per neighbourhood, among the `k + 1` share holders of a client
    /// (its neighbours and itself): `2 <= t <= k` on a Harary graph (a client's own share
    /// does not count towards correctness there), `2 <= t <= n` on the complete graph.
    pub t: usize,
    /// Mask expansions (PRG runs over the whole vector) per client: `k` pairwise masks and
    /// one self mask.
    pub client_mask_expansions: f64,
    /// Expected mask expansions at the server with `ceil(δ n)` clients dropped: one self mask
    /// per survivor and, for each dropped client, one pairwise mask per surviving neighbour.
    pub server_mask_expansions: f64,
}

/// Why [`find`] returned no parameters.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FinderError {
    /// Fewer than two clients, or more than [`MAX_FINDER_CLIENTS`].
    ClientCount {
        /// The number asked for.
        clients: usize,
    },
    /// The dropout rate is not a number in `[0, 1)`.
    DropoutRate {
        /// The rate asked for.
        rate: f64,
    },
    /// The corruption rate is not a number in `[0, 1)`.
    CorruptRate {
        /// The rate asked for.
        rate: f64,
    },
    /// `σ` or `η` is zero: a failure probability of `2^0 = 1` bounds nothing.
    ZeroParameter {
        /// `"sigma"` or `"eta"`.
        which: &'static str,
    },
    /// Neither a sparse graph nor the complete graph meets the bounds: even on the complete
    /// graph, security needs a threshold above what the survivors can reach.
    NoParameters {
        /// The number of clients.
        clients: usize,
        /// The threat model.
        threat: ThreatModel,
        /// The smallest safe threshold on the complete graph.
        min_threshold: usize,
        /// The clients left after `ceil(δ n)` drop out: the largest reachable threshold.
        survivors: usize,
    },
}

impl fmt::Display for FinderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientCount { clients } => write!(
                f,
                "number of clients must lie in 2 ..= {MAX_FINDER_CLIENTS}, got {clients}"
            ),
            Self::DropoutRate { rate } => {
                write!(f, "dropout rate must be a number in [0, 1), got {rate}")
            }
            Self::CorruptRate { rate } => {
                write!(f, "corruption rate must be a number in [0, 1), got {rate}")
            }
            Self::ZeroParameter { which } => write!(
                f,
                "{which} must be at least 1: a failure probability of 2^0 bounds nothing"
            ),
            Self::NoParameters {
                clients,
                threat,
                min_threshold,
                survivors,
            } => write!(
                f,
                "no degree and threshold exist for {clients} clients against {}: no sparse \
                 degree meets the bounds, and even the complete graph needs a threshold of at \
                 least {min_threshold} while only {survivors} clients are sure to survive",
                threat_name(*threat)
            ),
        }
    }
}

impl core::error::Error for FinderError {}

fn threat_name(threat: ThreatModel) -> &'static str {
    match threat {
        ThreatModel::HonestButCurious => "an honest-but-curious server",
        ThreatModel::Malicious => "a malicious server",
    }
}

/// Finds the smallest even degree `k` of a random Harary graph, and a threshold `t`, that
/// meet the security (`2^-σ`) and correctness (`2^-η`) bounds of Bell et al., CCS 2020
/// (ePrint 2020/704, §3: the graph events on corrupt neighbours, honest-survivor
/// connectivity and surviving neighbours), or the complete graph where no sparse degree
/// below `n - 1` does.
///
/// The threshold returned is the smallest that is safe: the largest of the paper's bound,
/// 2, the crate's floor against a malicious server ([`crate::Params`]) and, if asked for,
/// a strict majority of the holders. The result can be
/// passed to [`ParamsBuilder`](crate::ParamsBuilder) as `.neighbours(k).threshold(t)` (or,
/// for [`GraphKind::Complete`], `.threshold(t)` alone).
///
/// # Errors
/// * [`FinderError::ClientCount`] unless `2 <= clients <= MAX_FINDER_CLIENTS`;
/// * [`FinderError::DropoutRate`] / [`FinderError::CorruptRate`] for a rate that is NaN or
///   outside `[0, 1)`;
/// * [`FinderError::ZeroParameter`] if `sigma` or `eta` is 0;
/// * [`FinderError::NoParameters`] if no sparse degree works and the complete graph's safe
///   threshold exceeds the number of survivors.
pub fn find(input: &FinderInput) -> Result<GraphParams, FinderError> {
    let model = Model::new(input)?;
    if let Some((k, t)) = model.sparse_search() {
        return Ok(model.params(GraphKind::Harary { k }, k, t));
    }
    let (min_threshold, survivors) = model.complete_range();
    if min_threshold <= survivors {
        let k = model.clients - 1;
        return Ok(model.params(GraphKind::Complete, k, min_threshold));
    }
    Err(FinderError::NoParameters {
        clients: model.clients,
        threat: model.threat,
        min_threshold,
        survivors,
    })
}

/// A validated input, with the rates turned into client counts and the failure targets
/// into natural logarithms.
#[derive(Clone, Copy, Debug)]
struct Model {
    clients: usize,
    corrupt: usize,
    dropped: usize,
    threat: ThreatModel,
    require_majority: bool,
    /// `ln 2^-(σ+1)`: the budget of the connectivity event.
    ln_graph_budget: f64,
    /// `ln (2^-(σ+1) / n)`: the budget of one client's corrupt-holder event.
    ln_security_budget: f64,
    /// `ln (2^-η / n)`: the budget of one client's surviving-neighbour event.
    ln_correctness_budget: f64,
}

impl Model {
    fn new(input: &FinderInput) -> Result<Self, FinderError> {
        let n = input.clients;
        if !(2..=MAX_FINDER_CLIENTS).contains(&n) {
            return Err(FinderError::ClientCount { clients: n });
        }
        let in_range = |rate: f64| (0.0..1.0).contains(&rate);
        if !in_range(input.dropout) {
            return Err(FinderError::DropoutRate {
                rate: input.dropout,
            });
        }
        if !in_range(input.corrupt) {
            return Err(FinderError::CorruptRate {
                rate: input.corrupt,
            });
        }
        if input.sigma == 0 {
            return Err(FinderError::ZeroParameter { which: "sigma" });
        }
        if input.eta == 0 {
            return Err(FinderError::ZeroParameter { which: "eta" });
        }
        let ln2 = core::f64::consts::LN_2;
        let ln_n = ln(n);
        let ln_graph_budget = -(f64::from(input.sigma) + 1.0) * ln2;
        Ok(Self {
            clients: n,
            corrupt: count_at_rate(n, input.corrupt),
            dropped: count_at_rate(n, input.dropout),
            threat: input.threat,
            require_majority: input.require_majority,
            ln_graph_budget,
            ln_security_budget: ln_graph_budget - ln_n,
            ln_correctness_budget: -f64::from(input.eta) * ln2 - ln_n,
        })
    }

    /// The smallest safe threshold for a Harary graph of degree `k`, if `k` meets every
    /// bound; `None` otherwise.
    fn sparse_threshold(&self, k: usize) -> Option<usize> {
        let n = self.clients;
        // Security, connectivity: the honest survivors stay connected once the corrupt and
        // dropped clients (at most corrupt + dropped of them) are removed.
        let bad = self.corrupt.saturating_add(self.dropped).min(n);
        if ln_disconnect_bound(n, bad, k) > self.ln_graph_budget {
            return None;
        }
        // Security, holders: an honest client has at least `m` corrupt neighbours with
        // probability at most 2^-(σ+1) / n.
        let m = smallest_negligible_count(n - 1, self.corrupt, k, self.ln_security_budget);
        let t_min = sparse_min_threshold(k, m, self.threat, self.require_majority);
        // Correctness: a client has at least `r` dropped neighbours with probability at most
        // 2^-η / n, so it keeps at least k - r + 1 surviving neighbours.
        let r = smallest_negligible_count(n - 1, self.dropped, k, self.ln_correctness_budget);
        let t_max = (k + 1).checked_sub(r)?;
        (t_min <= t_max).then_some(t_min)
    }

    /// The smallest even degree below `n - 1` that meets every bound, with its threshold.
    ///
    /// Every even degree up to [`LINEAR_SCAN_MAX_K`] is tried in turn, so there the answer
    /// is exactly the smallest. Beyond it the degree doubles until one works and is then
    /// bisected, which finds the smallest one if feasibility is monotone in `k` there.
    fn sparse_search(&self) -> Option<(usize, usize)> {
        // The largest even degree below n - 1 (a Harary graph of degree n - 1 is complete).
        let k_max = self.clients.checked_sub(2)? & !1;
        let mut k = 2;
        while k <= k_max.min(LINEAR_SCAN_MAX_K) {
            if let Some(t) = self.sparse_threshold(k) {
                return Some((k, t));
            }
            k += 2;
        }
        // k - 2 is the largest degree tried, and it failed.
        let mut infeasible = k - 2;
        while infeasible < k_max {
            let candidate = infeasible.saturating_mul(2).min(k_max);
            if let Some(t) = self.sparse_threshold(candidate) {
                return Some(self.bisect(infeasible, candidate, t));
            }
            infeasible = candidate;
        }
        None
    }

    /// Narrows `(infeasible, feasible]` (both even) down to adjacent even degrees.
    fn bisect(&self, mut infeasible: usize, mut feasible: usize, mut t: usize) -> (usize, usize) {
        while feasible - infeasible > 2 {
            let mid = infeasible + (feasible - infeasible) / 4 * 2;
            match self.sparse_threshold(mid) {
                Some(t_mid) => {
                    feasible = mid;
                    t = t_mid;
                }
                None => infeasible = mid,
            }
        }
        (feasible, t)
    }

    /// `(smallest safe threshold, survivors)` on the complete graph, where the counts are
    /// exact: at most `corrupt` corrupt and `dropped` dropped clients.
    fn complete_range(&self) -> (usize, usize) {
        let n = self.clients;
        let min = match self.threat {
            // Security against the corrupt clients (more than them hold no secret), at least
            // 2, and a majority if required.
            ThreatModel::HonestButCurious if self.require_majority => {
                (self.corrupt + 1).max(n / 2 + 1)
            }
            ThreatModel::HonestButCurious => (self.corrupt + 1).max(2),
            // 2t > n + corrupt (see sparse_min_threshold), and the crate's two-thirds floor.
            ThreatModel::Malicious => ((n + self.corrupt) / 2 + 1).max(2 * n / 3 + 1),
        };
        (min, n - self.dropped)
    }

    fn params(&self, graph: GraphKind, k: usize, t: usize) -> GraphParams {
        let n = self.clients as f64;
        let dropped = self.dropped as f64;
        let survivors = n - dropped;
        // Each of a dropped client's k neighbours is one of the n - 1 others, chosen
        // uniformly by the random labelling, so it survived with probability
        // survivors / (n - 1).
        let pairwise = dropped * k as f64 * survivors / (n - 1.0);
        GraphParams {
            graph,
            k,
            t,
            client_mask_expansions: k as f64 + 1.0,
            server_mask_expansions: survivors + pairwise,
        }
    }
}

/// The smallest safe threshold among the `k + 1` share holders of a client (its neighbours
/// and itself) when, with overwhelming probability, fewer than `m` of them are corrupt.
///
/// Honest-but-curious: the corrupt holders alone must stay below `t`, so `t >= m` (the
/// model's condition); with `require_majority` also a strict majority of the holders.
/// Malicious: the server may ask some honest holders for the self-mask share and others for
/// the key share of one client. An honest holder reveals at most one of the two; a corrupt
/// one reveals both. The server rebuilds both secrets iff `2t <= (k + 1) + corrupt`, so `t`
/// must satisfy `2t >= k + 1 + m`; and the crate's floor ([`crate::Params`]) of more than
/// two thirds of the holders. Both at least 2.
fn sparse_min_threshold(k: usize, m: usize, threat: ThreatModel, require_majority: bool) -> usize {
    let holders = k + 1;
    match threat {
        ThreatModel::HonestButCurious if require_majority => m.max(holders / 2 + 1),
        ThreatModel::HonestButCurious => m,
        ThreatModel::Malicious => (holders + m).div_ceil(2).max(2 * holders / 3 + 1),
    }
    .max(2)
}

/// `ceil(rate * n)`, forgiving the rounding error of the product (so `0.07 * 100` is 7).
/// `rate` is in `[0, 1)`, so the result is in `0 ..= n`.
fn count_at_rate(n: usize, rate: f64) -> usize {
    let target = rate * n as f64;
    first_at_least(0, n, target - 1e-9 * target.max(1.0))
}

/// The smallest integer in `lo ..= hi` that is at least `target`, or `hi` if none is; by
/// bisection, so no float-to-integer cast is needed.
fn first_at_least(mut lo: usize, mut hi: usize, target: f64) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if mid as f64 >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

fn ln(x: usize) -> f64 {
    (x as f64).ln()
}

/// `ln x!`: the plain sum below 32, Stirling's series with four correction terms above (its
/// truncation error is below `1 / (1188 x^9) < 10^-16` there).
fn ln_factorial(x: usize) -> f64 {
    if x < 32 {
        return (2..=x).map(ln).sum();
    }
    let x = x as f64;
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)));
    x * x.ln() - x + 0.5 * (core::f64::consts::TAU * x).ln() + series
}

/// `ln C(a, b)` for `b <= a`.
fn ln_choose(a: usize, b: usize) -> f64 {
    ln_factorial(a) - ln_factorial(b) - ln_factorial(a - b)
}

/// A sum of terms given by their logarithms, kept as `max * scaled` to avoid underflow.
#[derive(Clone, Copy, Debug)]
struct LogSum {
    max: f64,
    scaled: f64,
}

impl LogSum {
    const EMPTY: Self = Self {
        max: f64::NEG_INFINITY,
        scaled: 0.0,
    };

    fn add(&mut self, ln_term: f64) {
        if ln_term > self.max {
            self.scaled = self.scaled * (self.max - ln_term).exp() + 1.0;
            self.max = ln_term;
        } else {
            self.scaled += (ln_term - self.max).exp();
        }
    }

    fn ln(self) -> f64 {
        self.max + self.scaled.ln()
    }
}

/// How far below the budget the neglected far tail is kept: `e^-30`, about `10^-13` of it.
const LN_NEGLECTED_FRACTION: f64 = -30.0;

/// For `X` hypergeometric (`draws` drawn without replacement from `population`, of which
/// `marked` are marked): the smallest `m` whose bound on `ln P[X >= m]` is at most
/// `ln_budget` (which must be negative).
///
/// The bound is the exact probability mass from `start` down to `m`, summed in log space,
/// plus Hoeffding's bound `exp(-2 s^2 / draws)` on `P[X >= mean + s]` (which holds for
/// sampling without replacement, Hoeffding 1963, §6) for the far tail above `start`, where
/// `start` is chosen so that this remainder is `e^-30` of the budget. So the result is the
/// exact quantile unless the exact tail lies within a factor `1 + 10^-13` of the budget,
/// and the cost is `O(sqrt(draws * ln(1 / budget)))`, independent of the population.
/// The result is in `1 ..= min(draws, marked) + 1`.
fn smallest_negligible_count(
    population: usize,
    marked: usize,
    draws: usize,
    ln_budget: f64,
) -> usize {
    let unmarked = population - marked;
    let top = draws.min(marked);
    let bottom = draws.saturating_sub(unmarked);
    let mean = draws as f64 * marked as f64 / population as f64;
    let ln_remainder = ln_budget + LN_NEGLECTED_FRACTION;
    let spread = (draws as f64 * -ln_remainder / 2.0).sqrt();
    // The first j >= mean + spread (or top): then P[X > j] <= exp(-2 spread^2 / draws).
    let mut j = first_at_least(bottom, top, mean + spread);
    let mut tail = LogSum::EMPTY;
    if j < top {
        tail.add(ln_remainder);
    }
    let mut ln_pmf =
        ln_choose(marked, j) + ln_choose(unmarked, draws - j) - ln_choose(population, draws);
    loop {
        tail.add(ln_pmf);
        // tail bounds P[X >= j].
        if tail.ln() > ln_budget || j == bottom {
            return j + 1;
        }
        // P[X = j - 1] / P[X = j] = j (unmarked - draws + j) / ((marked - j + 1)(draws - j + 1)),
        // where unmarked + j > draws because j > bottom.
        ln_pmf += ln(j) + ln(unmarked + j - draws) - ln(marked - j + 1) - ln(draws - j + 1);
        j -= 1;
    }
}

/// `ln` of a bound on the probability that the honest survivors of a randomly labelled
/// Harary graph of even degree `k <= n - 2` are disconnected once `bad` clients, chosen
/// independently of the labelling, are removed.
///
/// They are disconnected only if two runs of `k / 2` ring-consecutive removed clients,
/// separated on both sides, exist. There are `n (n - k - 1) / 2` such pairs of runs, and all
/// `k` positions of one pair hold removed clients with probability
/// `prod_{i < k} (bad - i) / (n - i) = (bad! / (bad - k)!) / (n! / (n - k)!)`.
fn ln_disconnect_bound(n: usize, bad: usize, k: usize) -> f64 {
    if k > bad {
        return f64::NEG_INFINITY;
    }
    let pairs = ln(n) + ln(n - k - 1) - core::f64::consts::LN_2;
    let all_removed =
        ln_factorial(bad) - ln_factorial(bad - k) - ln_factorial(n) + ln_factorial(n - k);
    pairs + all_removed
}

#[cfg(test)]
mod google_cases;

#[cfg(test)]
mod tests {
    //! Expected values marked "exact" come from the Python check in `docs/FINDER.md`
    //! ("Derivation check"), which evaluates the same bounds with `math.comb` and
    //! `fractions.Fraction` (exact integers and rationals, every even degree tried in turn);
    //! those marked "by hand" are worked out in the comments.
    use super::*;
    use crate::{Modulus, Params, SessionId};

    fn hbc(clients: usize, rate: f64) -> FinderInput {
        FinderInput::new(clients, rate, rate, ThreatModel::HonestButCurious)
    }

    fn mal(clients: usize, rate: f64) -> FinderInput {
        FinderInput::new(clients, rate, rate, ThreatModel::Malicious)
    }

    fn k_t(input: &FinderInput) -> Result<(GraphKind, usize, usize), FinderError> {
        find(input).map(|p| (p.graph, p.k, p.t))
    }

    fn harary(k: usize, t: usize) -> Result<(GraphKind, usize, usize), FinderError> {
        Ok((GraphKind::Harary { k }, k, t))
    }

    fn complete(n: usize, t: usize) -> Result<(GraphKind, usize, usize), FinderError> {
        Ok((GraphKind::Complete, n - 1, t))
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1.0)
    }

    #[test]
    fn count_at_rate_rounds_up_and_forgives_float_error() {
        // By hand: ceil(γ n); 0.07 * 100 is 7.000000000000001 in f64.
        assert_eq!(count_at_rate(100, 0.07), 7);
        assert_eq!(count_at_rate(1000, 0.05), 50);
        assert_eq!(count_at_rate(10, 0.05), 1);
        assert_eq!(count_at_rate(10, 0.0), 0);
        assert_eq!(count_at_rate(10, 0.99), 10);
        assert_eq!(count_at_rate(3, 1.0 / 3.0), 1);
    }

    #[test]
    fn ln_factorial_matches_lgamma() {
        // Python math.lgamma(x + 1).
        for (x, expected) in [
            (0, 0.0),
            (1, 0.0),
            (5, 4.787_491_742_782_047),
            (31, 78.092_223_553_315_3),
            (32, 81.557_959_456_115_03),
            (33, 85.054_467_017_581_52),
            (100, 363.739_375_555_563_47),
            (1_000_000, 12_815_518.384_658_169),
            (1 << 24, 262_320_712.469_789_56),
        ] {
            assert!(close(ln_factorial(x), expected, 1e-14), "{x}");
        }
    }

    #[test]
    fn ln_choose_matches_exact_binomials() {
        // Python math.log(math.comb(a, b)) (exact integer, then one rounding).
        for (a, b, expected) in [
            (10, 3, 4.787_491_742_782_046),
            (99, 12, 34.460_134_108_244_795),
            (999_999, 38, 422.020_461_578_618_9),
            (949_999, 38, 420.071_277_390_864_6),
        ] {
            assert!(close(ln_choose(a, b), expected, 1e-10), "{a} {b}");
        }
    }

    #[test]
    fn hypergeometric_quantiles_match_exact_sums() {
        let ln2 = core::f64::consts::LN_2;
        let security = |n: usize| -41.0 * ln2 - ln(n);
        let correctness = |n: usize| -20.0 * ln2 - ln(n);
        // (population, marked, draws, ln budget, exact smallest m with P[X >= m] <= budget).
        // By hand: 1 marked among 9, 4 drawn: P[X >= 1] = 4/9, P[X >= 2] = 0, so m = 2; and
        // nothing marked gives m = 1; 6 of 9 marked, 8 drawn: P[X >= 6] = 3/9, so m = 7.
        // The others are exact; e.g. for 50 000 of 999 999 marked and 38 drawn,
        // P[X >= 21] = 5.96e-18 > 2^-41 / 10^6 = 4.55e-19 >= P[X >= 22] = 2.41e-19.
        for (population, marked, draws, budget, expected) in [
            (9, 1, 4, security(10), 2),
            (99, 0, 10, security(100), 1),
            (9, 6, 8, correctness(10), 7),
            (99, 5, 12, security(100), 6),
            (99, 5, 12, correctness(100), 6),
            (999, 50, 30, security(1000), 17),
            (999, 50, 30, correctness(1000), 13),
            (999_999, 50_000, 38, security(1_000_000), 22),
            (999_999, 50_000, 38, correctness(1_000_000), 17),
            (999_999, 50_000, 78, security(1_000_000), 30),
        ] {
            let m = smallest_negligible_count(population, marked, draws, budget);
            assert_eq!(m, expected, "{population} {marked} {draws}");
        }
    }

    #[test]
    fn disconnect_bound_matches_exact_values() {
        // By hand: n = 10, 2 bad, k = 2: 10 * 7 / 2 pairs * (2/10)(1/9) = 7/9.
        assert!(close(
            ln_disconnect_bound(10, 2, 2),
            (7.0f64 / 9.0).ln(),
            1e-12
        ));
        // By hand: n = 10, 6 bad, k = 6: 10 * 3 / 2 * 720 / 151 200 = 1/14.
        assert!(close(
            ln_disconnect_bound(10, 6, 6),
            (1.0f64 / 14.0).ln(),
            1e-12
        ));
        // Exact (Fraction): ln of 3776334829300 / 6.447e38.
        assert!(close(
            ln_disconnect_bound(1000, 100, 30),
            -60.402_111_955_954_936,
            1e-10
        ));
        assert!(close(
            ln_disconnect_bound(1_000_000, 100_000, 38),
            -60.566_726_469_292_76,
            1e-10
        ));
        // Fewer bad clients than the graph's connectivity k cannot disconnect it.
        assert_eq!(ln_disconnect_bound(100, 10, 12), f64::NEG_INFINITY);
    }

    fn majority(mut input: FinderInput) -> FinderInput {
        input.require_majority = true;
        input
    }

    #[test]
    fn finds_hand_worked_small_sessions() {
        // n = 10, δ = γ = 0.05: one corrupt, one dropped (ceil(0.5)). k = 2 fails
        // connectivity (7/9 above); k = 4 cannot be cut by 2 removed clients. A client has at
        // most 1 corrupt and 1 dropped neighbour, so m = 2 and t <= 4 + 1 - 2 = 3: HbC
        // t = max(2, m) = 2; with a majority t in [max(2, 5/2 + 1), 3] = [3, 3].
        assert_eq!(k_t(&hbc(10, 0.05)), harary(4, 2));
        assert_eq!(k_t(&majority(hbc(10, 0.05))), harary(4, 3));
        // Malicious at k = 4: t >= ceil((5 + 2) / 2) = 4 > 3. At k = 6:
        // t >= max(ceil((7 + 2) / 2), 14 / 3 + 1) = 5 <= 6 + 1 - 2.
        assert_eq!(k_t(&mal(10, 0.05)), harary(6, 5));
        // Exact.
        assert_eq!(k_t(&hbc(20, 0.2)), harary(10, 5));
        assert_eq!(k_t(&majority(hbc(20, 0.2))), harary(10, 6));
        assert_eq!(k_t(&mal(20, 0.2)), harary(16, 12));
        // The majority changes nothing against a malicious server.
        assert_eq!(k_t(&majority(mal(20, 0.2))), harary(16, 12));
    }

    #[test]
    fn falls_back_to_complete_graph_for_small_sessions() {
        // By hand: n = 5, δ = γ = 0.2: one corrupt, one dropped, only k = 2 is sparse and it
        // fails connectivity (5 * 2 / 2 * (2/5)(1/4) = 1/2). Complete: HbC t = max(1 + 1, 2)
        // = 2, or max(2, 5/2 + 1) = 3 with a majority; malicious t = max(6 / 2 + 1,
        // 10 / 3 + 1) = 4, and 4 clients survive.
        assert_eq!(k_t(&hbc(5, 0.2)), complete(5, 2));
        assert_eq!(k_t(&majority(hbc(5, 0.2))), complete(5, 3));
        assert_eq!(k_t(&mal(5, 0.2)), complete(5, 4));
        // No sparse degree exists below n - 1 for n <= 3.
        assert_eq!(k_t(&hbc(3, 0.0)), complete(3, 2));
        assert_eq!(k_t(&hbc(2, 0.0)), complete(2, 2));
        // Exact: sparse fails, complete works.
        assert_eq!(k_t(&mal(6, 0.05)), complete(6, 5));
        assert_eq!(k_t(&hbc(6, 0.2)), complete(6, 3));
        assert_eq!(k_t(&majority(hbc(6, 0.2))), complete(6, 4));
        assert_eq!(k_t(&mal(10, 0.2)), complete(10, 7));
    }

    #[test]
    fn table_matches_exact_computation() {
        // The table of docs/FINDER.md, δ = γ = 0.05, σ = 40, η = 20; exact.
        for (n, hbc_k, hbc_t, mal_k, mal_t) in [
            (100, 12, 6, 18, 13),
            (1000, 30, 17, 52, 37),
            (10_000, 34, 20, 62, 44),
            (1_000_000, 38, 22, 78, 55),
        ] {
            assert_eq!(k_t(&hbc(n, 0.05)), harary(hbc_k, hbc_t), "{n}");
            // With a majority only n = 100 moves: t = 7 > 13 / 2.
            let t = if n == 100 { 7 } else { hbc_t };
            assert_eq!(k_t(&majority(hbc(n, 0.05))), harary(hbc_k, t), "{n}");
            assert_eq!(k_t(&mal(n, 0.05)), harary(mal_k, mal_t), "{n}");
        }
    }

    #[test]
    fn other_parameters_match_exact_computation() {
        let with = |threat, dropout, corrupt, sigma, eta| FinderInput {
            clients: 1000,
            dropout,
            corrupt,
            threat,
            sigma,
            eta,
            require_majority: false,
        };
        let (h, m) = (ThreatModel::HonestButCurious, ThreatModel::Malicious);
        assert_eq!(k_t(&with(h, 0.05, 0.05, 80, 40)), harary(50, 29));
        assert_eq!(k_t(&with(m, 0.05, 0.05, 80, 40)), harary(86, 61));
        // No corrupt client: the model needs only t >= 2, a majority needs twice the degree.
        assert_eq!(k_t(&with(h, 0.1, 0.0, 40, 20)), harary(18, 2));
        assert_eq!(k_t(&majority(with(h, 0.1, 0.0, 40, 20))), harary(36, 19));
        assert_eq!(k_t(&majority(with(h, 0.0, 0.1, 40, 20))), harary(18, 17));
        assert_eq!(k_t(&with(h, 0.0, 0.1, 40, 20)), harary(18, 17));
        assert_eq!(k_t(&with(m, 0.1, 0.0, 40, 20)), harary(84, 57));
        assert_eq!(k_t(&with(m, 0.0, 0.1, 40, 20)), harary(18, 18));
        let wide = FinderInput::new(100_000, 0.4, 0.05, h);
        assert_eq!(k_t(&wide), harary(120, 36));
        assert_eq!(k_t(&majority(wide)), harary(1102, 552));
    }

    #[test]
    fn doubling_search_beyond_linear_scan_finds_the_smallest_degree() {
        // n = 2^24, δ = 0.45, γ = 0.05 needs k > LINEAR_SCAN_MAX_K. Exact: k = 5502 meets
        // every bound and k = 5500 does not.
        let input = majority(FinderInput::new(
            1 << 24,
            0.45,
            0.05,
            ThreatModel::HonestButCurious,
        ));
        assert_eq!(k_t(&input), harary(5502, 2752));
        // Every even degree between the linear scan and the answer fails.
        let model = Model::new(&input).unwrap();
        for k in (LINEAR_SCAN_MAX_K..5502).step_by(2) {
            assert_eq!(model.sparse_threshold(k), None, "{k}");
        }
    }

    #[test]
    fn rejects_invalid_input() {
        for clients in [0, 1, MAX_FINDER_CLIENTS + 1] {
            let err = find(&hbc(clients, 0.05)).unwrap_err();
            assert_eq!(err, FinderError::ClientCount { clients });
        }
        for rate in [-0.1, 1.0, 1.5, f64::NAN, f64::INFINITY] {
            let input = FinderInput::new(100, rate, 0.05, ThreatModel::HonestButCurious);
            assert!(matches!(find(&input), Err(FinderError::DropoutRate { .. })));
            let input = FinderInput::new(100, 0.05, rate, ThreatModel::Malicious);
            assert!(matches!(find(&input), Err(FinderError::CorruptRate { .. })));
        }
        let mut input = hbc(100, 0.05);
        input.sigma = 0;
        let err = find(&input).unwrap_err();
        assert_eq!(err, FinderError::ZeroParameter { which: "sigma" });
        input.sigma = 40;
        input.eta = 0;
        let err = find(&input).unwrap_err();
        assert_eq!(err, FinderError::ZeroParameter { which: "eta" });
    }

    #[test]
    fn rejects_when_not_even_the_complete_graph_works() {
        // By hand: n = 10, 3 corrupt, 4 dropped, malicious. Complete: t >= max(13 / 2 + 1,
        // 20 / 3 + 1) = 7 > 6 survivors. Sparse (exact) fails at every even k <= 8.
        let input = FinderInput::new(10, 0.4, 0.3, ThreatModel::Malicious);
        let err = find(&input).unwrap_err();
        let expected = FinderError::NoParameters {
            clients: 10,
            threat: ThreatModel::Malicious,
            min_threshold: 7,
            survivors: 6,
        };
        assert_eq!(err, expected);
        // HbC with 5 of 10 corrupt and 5 dropped: t > 5 exceeds the 5 survivors (sparse
        // fails at every even k <= 8, exact).
        let input = FinderInput::new(10, 0.5, 0.5, ThreatModel::HonestButCurious);
        assert!(matches!(
            find(&input),
            Err(FinderError::NoParameters {
                min_threshold: 6,
                survivors: 5,
                ..
            })
        ));
        // HbC with 6 of 10 dropped and a majority required: a majority of 10 (6) exceeds the
        // 4 survivors; without it, k = 8 and t = 2 work (exact).
        let input = FinderInput::new(10, 0.6, 0.0, ThreatModel::HonestButCurious);
        assert_eq!(k_t(&input), harary(8, 2));
        let input = majority(input);
        assert!(matches!(
            find(&input),
            Err(FinderError::NoParameters {
                min_threshold: 6,
                survivors: 4,
                ..
            })
        ));
        // Two clients and a 5 % dropout rate: ceil(0.1) = 1 of 2 may drop, below t = 2.
        assert!(matches!(
            find(&hbc(2, 0.05)),
            Err(FinderError::NoParameters { .. })
        ));
    }

    #[test]
    fn error_messages_are_lower_case_and_explain() {
        let err = find(&FinderInput::new(10, 0.4, 0.3, ThreatModel::Malicious)).unwrap_err();
        let text = std::format!("{err}");
        assert!(text.starts_with("no degree and threshold exist for 10 clients"));
        assert!(text.contains("at least 7 while only 6 clients are sure to survive"));
        let text = std::format!("{}", find(&hbc(1, 0.05)).unwrap_err());
        assert_eq!(text, "number of clients must lie in 2 ..= 16777216, got 1");
        let input = FinderInput::new(10, 1.0, 0.0, ThreatModel::HonestButCurious);
        let text = std::format!("{}", find(&input).unwrap_err());
        assert_eq!(text, "dropout rate must be a number in [0, 1), got 1");
    }

    /// The degree found, with "no parameters" as infinitely large.
    fn degree(input: &FinderInput) -> usize {
        find(input).map_or(usize::MAX, |p| p.k)
    }

    #[test]
    fn larger_rates_never_give_a_smaller_degree() {
        for (threat, require_majority) in [
            (ThreatModel::HonestButCurious, false),
            (ThreatModel::HonestButCurious, true),
            (ThreatModel::Malicious, false),
        ] {
            let input = |n, dropout, corrupt| FinderInput {
                require_majority,
                ..FinderInput::new(n, dropout, corrupt, threat)
            };
            for n in [12, 50, 200, 1000, 10_000] {
                for fixed in [0.0, 0.05, 0.1, 0.2] {
                    let (mut by_dropout, mut by_corrupt) = (0, 0);
                    for step in 0..=15 {
                        let rate = f64::from(step) * 0.02;
                        let k = degree(&input(n, rate, fixed));
                        assert!(k >= by_dropout, "{threat:?} n={n} δ={rate} γ={fixed}");
                        by_dropout = k;
                        let k = degree(&input(n, fixed, rate));
                        assert!(k >= by_corrupt, "{threat:?} n={n} δ={fixed} γ={rate}");
                        by_corrupt = k;
                    }
                }
            }
        }
    }

    #[test]
    fn stricter_sigma_or_eta_never_gives_a_smaller_degree() {
        for threat in [ThreatModel::HonestButCurious, ThreatModel::Malicious] {
            let mut previous = 0;
            for (sigma, eta) in [(20, 10), (40, 20), (40, 40), (64, 40), (128, 64)] {
                let input = FinderInput {
                    sigma,
                    eta,
                    ..FinderInput::new(10_000, 0.05, 0.05, threat)
                };
                let k = degree(&input);
                assert!(k >= previous, "{threat:?} σ={sigma} η={eta}");
                previous = k;
            }
        }
    }

    #[test]
    fn degree_grows_logarithmically_with_clients() {
        for threat in [ThreatModel::HonestButCurious, ThreatModel::Malicious] {
            let ks: Vec<usize> = [1000, 10_000, 100_000, 1_000_000]
                .iter()
                .map(|&n| degree(&FinderInput::new(n, 0.05, 0.05, threat)))
                .collect();
            // Non-decreasing, and each factor of 10 in n adds a bounded number of neighbours
            // (O(log n) growth), far from the 10x of linear growth.
            for pair in ks.windows(2) {
                assert!(pair[0] <= pair[1], "{threat:?} {ks:?}");
                assert!(pair[1] - pair[0] <= 16, "{threat:?} {ks:?}");
            }
            assert!(ks[3] < 2 * ks[0], "{threat:?} {ks:?}");
        }
    }

    #[test]
    fn mask_expansions_follow_the_formulas() {
        // n = 1000, δ = 0.05: 50 dropped, 950 survivors, k = 30 (table above).
        // Server: 950 + 50 * 30 * 950 / 999 = 950 + 1426.426... (by hand).
        let p = find(&hbc(1000, 0.05)).unwrap();
        assert!(close(p.client_mask_expansions, 31.0, 1e-15));
        assert!(close(
            p.server_mask_expansions,
            950.0 + 1_425_000.0 / 999.0,
            1e-12
        ));
        // Complete graph, n = 5, one dropped: each client expands 5 masks; the server 4 self
        // masks and the 4 pairwise masks of the dropped client (by hand).
        let p = find(&hbc(5, 0.2)).unwrap();
        assert!(close(p.client_mask_expansions, 5.0, 1e-15));
        assert!(close(p.server_mask_expansions, 8.0, 1e-12));
    }

    #[test]
    fn output_is_accepted_by_params() {
        let session = SessionId([7; 32]);
        let modulus = Modulus::power_of_two(32).unwrap();
        for (threat, require_majority) in [
            (ThreatModel::HonestButCurious, false),
            (ThreatModel::HonestButCurious, true),
            (ThreatModel::Malicious, false),
        ] {
            for n in [4, 5, 10, 20, 100, 1000, 10_000, 65_536] {
                for rate in [0.0, 0.05, 0.1, 0.2, 0.33] {
                    let input = FinderInput {
                        require_majority,
                        ..FinderInput::new(n, rate, rate, threat)
                    };
                    let Ok(p) = find(&input) else {
                        continue;
                    };
                    let mut builder = Params::builder(session, n, modulus, 16)
                        .threat_model(threat)
                        .require_majority(require_majority)
                        .threshold(p.t);
                    if let GraphKind::Harary { k } = p.graph {
                        builder = builder.neighbours(k);
                    }
                    let params = builder.build().unwrap();
                    assert_eq!(params.share_holders(), p.k + 1);
                }
            }
        }
    }

    #[test]
    fn answers_for_a_million_clients_and_beyond() {
        // Typical rates give a sparse graph far below n. Extreme rates send the doubling
        // search towards k = n - 2: whatever it settles on is a valid graph with a threshold
        // among its holders, or a typed refusal, never a panic. How long the search takes is
        // measured by the `finder` bench of `benches/primitives.rs`, not here.
        for input in [hbc(1_000_000, 0.05), mal(1_000_000, 0.05)] {
            let found = find(&input).unwrap();
            assert!(matches!(found.graph, GraphKind::Harary { .. }), "{found:?}");
            assert!(found.k < 1_000 && found.t <= found.k, "{found:?}");
        }
        for input in [
            FinderInput::new(1_000_000, 0.6, 0.39, ThreatModel::HonestButCurious),
            FinderInput::new(1 << 24, 0.6, 0.39, ThreatModel::Malicious),
        ] {
            match find(&input) {
                Ok(found) => {
                    assert!(found.k < input.clients, "{found:?}");
                    assert!((2..=found.k + 1).contains(&found.t), "{found:?}");
                }
                Err(e) => assert!(matches!(e, FinderError::NoParameters { .. }), "{e:?}"),
            }
        }
    }
}
