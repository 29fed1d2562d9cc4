//! The CSPRNG every protocol step takes: ChaCha20 seeded from the operating system, fresh
//! for each call (no global generator, nothing to fork-share).

use chacha20::ChaCha20Rng;
use pyo3::PyErr;
use pyo3::exceptions::PyOSError;
use rand_core::SeedableRng;

pub(crate) fn os_error() -> PyErr {
    PyOSError::new_err("the operating system's random number generator failed")
}

pub(crate) fn os() -> Result<ChaCha20Rng, PyErr> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|_| os_error())?;
    let rng = ChaCha20Rng::from_seed(seed);
    seed.iter_mut().for_each(|b| *b = 0);
    Ok(rng)
}
