//! The native part of the `secagg` Python package (`secagg._native`): thin PyO3 bindings
//! that convert, release the GIL for cryptographic work, and delegate to the `secagg`
//! crate. No protocol logic lives here; every Rust error becomes a typed Python exception.

mod encoding;
mod errors;
mod params;
mod rng;
mod session;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<params::Params>()?;
    m.add_class::<params::StateKey>()?;
    m.add_class::<params::IdentityKey>()?;
    m.add_class::<params::Pki>()?;
    m.add_class::<session::ClientSession>()?;
    m.add_class::<session::ServerSession>()?;
    m.add_class::<session::Output>()?;
    m.add_class::<encoding::EncoderConfig>()?;
    m.add_class::<encoding::Encoder>()?;
    m.add_function(wrap_pyfunction!(encoding::rotation_seed, m)?)?;
    m.add_function(wrap_pyfunction!(encoding::find_params, m)?)?;
    m.add("WIRE_VERSION", 2)?;
    Ok(())
}
