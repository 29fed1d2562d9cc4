//! Every feasible case of Google's parameter-finder test, run through [`find`].
//!
//! Source of the expected values: `google-parfait/federated-compute`,
//! `fcp/secagg/server/graph_parameter_finder_test.cc`
//! (`HararyGraphParameterFinderTest_Feasible`, σ = 40, η = 20), where `CURIOUS_SERVER` is our
//! honest-but-curious server and `SEMI_MALICIOUS_SERVER` our malicious one; its `NONE` cases
//! (no adversary, corruption 0) repeat the `CURIOUS_SERVER` ones with corruption 0 and are
//! left out. Our values are computed here, never pasted: the test asserts, for each case,
//! either that our degree is within 20 % of Google's, or the reason stated in the table
//! (`docs/FINDER.md`, "Google's test cases"), and that our threshold is exactly the one the
//! model's condition requires. It also checks that the rows of that table in
//! `docs/FINDER.md` are the ones the code computes (a failure prints the expected rows).
use super::*;
use crate::arith::Modulus;
use crate::error::ConfigError;
use crate::ids::SessionId;
use crate::params::Params;

/// Why our degree may lie outside 20 % of Google's.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Within 20 %.
    Band,
    /// Google's own `(k, t)` is refused by `Params` in the malicious mode: `t` is not above
    /// two thirds of the `k + 1` holders, the floor the malicious mode keeps.
    MaliciousFloor,
    /// Ten clients, where Google's degree is 2, 4 or 8 and one even step is 25 % or more: our
    /// counts round up (`ceil`), our correctness bound does not count a client's own share,
    /// and the malicious floor adds to it (`docs/FINDER.md`). Our degree is at most two even
    /// steps above Google's.
    TenClients,
}

use Expect::{Band, MaliciousFloor, TenClients};
const H: ThreatModel = ThreatModel::HonestButCurious;
const M: ThreatModel = ThreatModel::Malicious;

/// `(n, corrupt, dropout, threat, Google's k, Google's t, what we expect)`, in the order of
/// Google's file.
#[rustfmt::skip]
const CASES: &[(usize, f64, f64, ThreatModel, usize, usize, Expect)] = &[
    (100, 0.45, 0.45, H, 92, 46, Band),
    (1000, 0.45, 0.45, H, 822, 417, Band),
    (10000, 0.45, 0.45, H, 3494, 1771, Band),
    (100000, 0.45, 0.45, H, 5508, 2788, Band),
    (1000000, 0.45, 0.45, H, 6240, 3156, Band),
    (10, 0.33, 0.33, H, 8, 4, Band),
    (100, 0.33, 0.33, H, 68, 34, Band),
    (1000, 0.33, 0.33, H, 286, 150, Band),
    (10000, 0.33, 0.33, H, 422, 221, Band),
    (100000, 0.33, 0.33, H, 480, 251, Band),
    (1000000, 0.33, 0.33, H, 518, 270, Band),
    (100, 0.3, 0.3, M, 92, 62, Band),
    (1000, 0.3, 0.3, M, 872, 584, Band),
    (10000, 0.3, 0.3, M, 4822, 3230, Band),
    (100000, 0.3, 0.3, M, 9388, 6286, Band),
    (1000000, 0.3, 0.3, M, 11136, 7454, Band),
    (10, 0.05, 0.33, H, 4, 2, TenClients),
    (100, 0.05, 0.33, H, 28, 6, Band),
    (1000, 0.05, 0.33, H, 72, 24, Band),
    (10000, 0.05, 0.33, H, 86, 29, Band),
    (100000, 0.05, 0.33, H, 96, 32, Band),
    (1000000, 0.05, 0.33, H, 102, 34, Band),
    (10, 0.05, 0.33, M, 8, 5, MaliciousFloor),
    (100, 0.05, 0.33, M, 72, 39, MaliciousFloor),
    (1000, 0.05, 0.33, M, 398, 223, MaliciousFloor),
    (10000, 0.05, 0.33, M, 746, 420, MaliciousFloor),
    (100000, 0.05, 0.33, M, 882, 496, MaliciousFloor),
    (1000000, 0.05, 0.33, M, 970, 545, MaliciousFloor),
    (10, 0.33, 0.05, H, 4, 4, TenClients),
    (100, 0.33, 0.05, H, 34, 29, Band),
    (1000, 0.33, 0.05, H, 78, 60, Band),
    (10000, 0.33, 0.05, H, 92, 70, Band),
    (100000, 0.33, 0.05, H, 102, 77, Band),
    (1000000, 0.33, 0.05, H, 110, 83, Band),
    (10, 0.33, 0.05, M, 4, 4, TenClients),
    (100, 0.33, 0.05, M, 42, 37, Band),
    (1000, 0.33, 0.05, M, 132, 109, Band),
    (10000, 0.33, 0.05, M, 178, 146, Band),
    (100000, 0.33, 0.05, M, 196, 160, Band),
    (1000000, 0.33, 0.05, M, 212, 173, Band),
    (10, 0.05, 0.05, H, 2, 2, TenClients),
    (100, 0.05, 0.05, H, 12, 6, Band),
    (1000, 0.05, 0.05, H, 30, 17, Band),
    (10000, 0.05, 0.05, H, 34, 20, Band),
    (100000, 0.05, 0.05, H, 36, 21, Band),
    (1000000, 0.05, 0.05, H, 38, 22, Band),
    (10, 0.05, 0.05, M, 2, 2, MaliciousFloor),
    (100, 0.05, 0.05, M, 16, 11, Band),
    (1000, 0.05, 0.05, M, 52, 37, Band),
    (10000, 0.05, 0.05, M, 62, 44, Band),
    (100000, 0.05, 0.05, M, 68, 48, Band),
    (1000000, 0.05, 0.05, M, 74, 52, Band),
    (10, 0.33, 0.0, H, 4, 4, TenClients),
    (100, 0.33, 0.0, H, 26, 25, Band),
    (1000, 0.33, 0.0, H, 38, 36, Band),
    (10000, 0.33, 0.0, H, 42, 40, Band),
    (100000, 0.33, 0.0, H, 46, 44, Band),
    (1000000, 0.33, 0.0, H, 50, 47, Band),
    (10, 0.33, 0.0, M, 4, 4, TenClients),
    (100, 0.33, 0.0, M, 26, 26, Band),
    (1000, 0.33, 0.0, M, 38, 37, Band),
    (10000, 0.33, 0.0, M, 42, 41, Band),
    (100000, 0.33, 0.0, M, 46, 45, Band),
    (1000000, 0.33, 0.0, M, 50, 49, Band),
    (10, 0.0, 0.33, H, 4, 2, TenClients),
    (100, 0.0, 0.33, H, 26, 2, Band),
    (1000, 0.0, 0.33, H, 38, 2, Band),
    (10000, 0.0, 0.33, H, 42, 2, Band),
    (100000, 0.0, 0.33, H, 46, 2, Band),
    (1000000, 0.0, 0.33, H, 50, 2, Band),
    (10, 0.0, 0.33, M, 8, 5, MaliciousFloor),
    (100, 0.0, 0.33, M, 68, 35, MaliciousFloor),
    (1000, 0.0, 0.33, M, 228, 115, MaliciousFloor),
    (10000, 0.0, 0.33, M, 326, 164, MaliciousFloor),
    (100000, 0.0, 0.33, M, 372, 187, MaliciousFloor),
    (1000000, 0.0, 0.33, M, 410, 206, MaliciousFloor),
    (10, 0.0, 0.0, H, 2, 2, Band),
    (100, 0.0, 0.0, H, 2, 2, Band),
    (1000, 0.0, 0.0, H, 2, 2, Band),
    (10000, 0.0, 0.0, H, 2, 2, Band),
    (100000, 0.0, 0.0, H, 2, 2, Band),
    (1000000, 0.0, 0.0, H, 2, 2, Band),
    (10, 0.0, 0.0, M, 2, 2, MaliciousFloor),
    (100, 0.0, 0.0, M, 2, 2, MaliciousFloor),
    (1000, 0.0, 0.0, M, 2, 2, MaliciousFloor),
    (10000, 0.0, 0.0, M, 2, 2, MaliciousFloor),
    (100000, 0.0, 0.0, M, 2, 2, MaliciousFloor),
    (1000000, 0.0, 0.0, M, 2, 2, MaliciousFloor),
];

/// The threshold the model's condition requires for what `find` chose, computed from the
/// bound's own quantity (`m`, the smallest negligible count of corrupt holders), not from
/// `find`.
fn model_threshold(input: &FinderInput, found: &GraphParams) -> usize {
    let model = Model::new(input).unwrap();
    let (holders, m) = match found.graph {
        GraphKind::Harary { k } => (
            k + 1,
            smallest_negligible_count(
                model.clients - 1,
                model.corrupt,
                k,
                model.ln_security_budget,
            ),
        ),
        // Exact counts on the complete graph: at most `corrupt` corrupt holders.
        GraphKind::Complete => (model.clients, model.corrupt + 1),
    };
    let majority = if input.require_majority {
        holders / 2 + 1
    } else {
        0
    };
    match input.threat {
        ThreatModel::HonestButCurious => m.max(majority),
        ThreatModel::Malicious => (holders + m).div_ceil(2).max(2 * holders / 3 + 1),
    }
    .max(2)
}

fn cell(found: &Result<GraphParams, FinderError>) -> String {
    match found {
        Ok(p) if p.graph == GraphKind::Complete => std::format!("complete, {}", p.t),
        Ok(p) => std::format!("{}, {}", p.k, p.t),
        Err(_) => "none".into(),
    }
}

#[test]
fn googles_cases_within_twenty_percent_or_for_the_stated_reason() {
    let doc = include_str!("../../docs/FINDER.md");
    let session = SessionId([1; 32]);
    let modulus = Modulus::power_of_two(32).unwrap();
    let mut missing = String::new();
    for &(n, corrupt, dropout, threat, google_k, google_t, expect) in CASES {
        let mut input = FinderInput::new(n, dropout, corrupt, threat);
        let found = find(&input);
        let case = std::format!("{n} {corrupt} {dropout} {threat:?}: {found:?}");
        if let Ok(p) = &found {
            assert_eq!(p.t, model_threshold(&input, p), "{case}");
        }
        let in_band = found
            .as_ref()
            .is_ok_and(|p| 5 * p.k.abs_diff(google_k) <= google_k);
        match expect {
            Band => assert!(in_band, "{case}"),
            MaliciousFloor => {
                assert!(!in_band, "{case}");
                let google = Params::builder(session, 1000, modulus, 1)
                    .neighbours(google_k)
                    .threshold(google_t)
                    .threat_model(ThreatModel::Malicious)
                    .build();
                assert!(
                    matches!(google, Err(ConfigError::Threshold { .. })),
                    "{case}"
                );
            }
            TenClients => {
                assert!(!in_band && n == 10, "{case}");
                assert!(found.as_ref().unwrap().k <= google_k + 4, "{case}");
            }
        }
        // The table in docs/FINDER.md, with the majority required (honest-but-curious only).
        let with_majority = match threat {
            ThreatModel::HonestButCurious => {
                input.require_majority = true;
                let majority = find(&input);
                if let Ok(p) = &majority {
                    assert_eq!(p.t, model_threshold(&input, p), "{case} (majority)");
                    assert!(2 * p.t > p.k + 1, "{case} (majority)");
                }
                cell(&majority)
            }
            ThreatModel::Malicious => "(same)".into(),
        };
        let model = match threat {
            ThreatModel::HonestButCurious => "HbC",
            ThreatModel::Malicious => "mal.",
        };
        let note = match expect {
            Band => "",
            MaliciousFloor => "malicious floor",
            TenClients => "ten clients",
        };
        let row = std::format!(
            "| {n} | {corrupt} | {dropout} | {model} | {google_k}, {google_t} | {} | {with_majority} | {note} |",
            cell(&found)
        );
        if !doc.contains(&row) {
            missing.push_str(&row);
            missing.push('\n');
        }
    }
    assert!(
        missing.is_empty(),
        "docs/FINDER.md lacks these rows of the table of Google's cases:\n{missing}"
    );
}
