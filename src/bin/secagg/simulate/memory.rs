//! The process's peak resident memory in each round, for `simulate`'s report.
//!
//! Linux only: the peak is `VmHWM` from `/proc/self/status`, reset by writing `5` to
//! `/proc/self/clear_refs` when a round starts. Elsewhere (or if either file cannot be used)
//! nothing is reported. The figure is the whole process's: the server, and the simulated
//! clients' states the driver holds between their steps.

use std::fs;

/// Peak resident bytes per round, in the order the rounds ran.
#[derive(Debug, Default)]
pub(super) struct Peaks {
    /// The round running now, if the probe works.
    current: Option<String>,
    /// `false` once reading or resetting failed: report nothing rather than a wrong figure.
    working: bool,
    peaks: Vec<(String, u64)>,
}

impl Peaks {
    pub(super) fn new() -> Self {
        Self {
            current: None,
            working: reset(),
            peaks: Vec::new(),
        }
    }

    /// Called with the name the driver gives its progress (`"unmasking: server removes
    /// masks"` belongs to `unmasking`): a new name ends the round before it.
    pub(super) fn update(&mut self, name: &str) {
        let round = name.split(':').next().unwrap_or(name);
        if self.current.as_deref() == Some(round) {
            return;
        }
        self.close();
        self.current = Some(round.to_owned());
        self.working &= reset();
    }

    /// Ends the last round and gives every round's peak (empty if the probe failed).
    pub(super) fn finish(mut self) -> Vec<(String, u64)> {
        self.close();
        if self.working { self.peaks } else { Vec::new() }
    }

    fn close(&mut self) {
        if let Some(round) = self.current.take() {
            match high_water_mark() {
                Some(bytes) => self.peaks.push((round, bytes)),
                None => self.working = false,
            }
        }
    }
}

/// Resets the peak to the current resident size.
fn reset() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `VmHWM` in bytes.
fn high_water_mark() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}
