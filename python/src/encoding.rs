//! The float encoding (`EncoderConfig`, `Encoder`), the accountant through
//! `Encoder.privacy`, and the parameter finder.

use std::borrow::Cow;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use secagg::PlainInput;
use secagg::dp::NoiseKind;
use secagg::encoding::{
    ClipReport, EncoderConfig as RsEncoderConfig, Encoding, Requirement,
    rotation_seed as rs_rotation_seed,
};
use secagg::finder::{FinderInput, find};
use secagg::{Neighbourhood, SessionId};

use crate::errors;
use crate::params::{Params, modulus, session_id, threat_model};
use crate::rng;

fn requirement_dict<'py>(py: Python<'py>, r: &Requirement) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("max_contributors", r.max_contributors)?;
    d.set_item("coordinate_bound", r.coordinate_bound)?;
    d.set_item("weight_bound", r.weight_bound)?;
    d.set_item("signal_bound", r.signal_bound)?;
    d.set_item("noise_margin", r.noise_margin)?;
    d.set_item("smallest_modulus", r.smallest_modulus)?;
    d.set_item("smallest_bits", r.smallest_bits)?;
    Ok(d)
}

/// A validated encoding configuration; `check` it against a modulus and a client count.
#[pyclass(module = "secagg._native", frozen)]
pub(crate) struct EncoderConfig {
    inner: RsEncoderConfig,
}

#[pymethods]
impl EncoderConfig {
    #[new]
    #[pyo3(signature = (dim, scale, *, l2_clip=None, coordinate_clip=None, rotation_seed=None,
        max_weight=None, weight_unit=None, conditional_rounding=0.0, wrap_probability=None,
        noise=None, noise_multiplier=0.0, min_contributors=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dim: usize,
        scale: f64,
        l2_clip: Option<f64>,
        coordinate_clip: Option<f64>,
        rotation_seed: Option<&[u8]>,
        max_weight: Option<u32>,
        weight_unit: Option<u64>,
        conditional_rounding: f64,
        wrap_probability: Option<f64>,
        noise: Option<&str>,
        noise_multiplier: f64,
        min_contributors: usize,
    ) -> PyResult<Self> {
        let mut b = RsEncoderConfig::builder(dim, scale).conditional_rounding(conditional_rounding);
        if let Some(c) = l2_clip {
            b = b.l2_clip(c);
        }
        if let Some(c) = coordinate_clip {
            b = b.coordinate_clip(c);
        }
        if let Some(seed) = rotation_seed {
            let seed: [u8; 32] = seed
                .try_into()
                .map_err(|_| PyValueError::new_err("a rotation seed is 32 bytes"))?;
            b = b.rotation(seed);
        }
        if let Some(w) = max_weight {
            b = b.weights(w);
        }
        if let Some(k) = weight_unit {
            b = b.weight_unit(k);
        }
        if let Some(p) = wrap_probability {
            b = b.wrap_probability(p);
        }
        if let Some(kind) = noise {
            let kind = match kind {
                "discrete_gaussian" => NoiseKind::DiscreteGaussian,
                "skellam" => NoiseKind::Skellam,
                _ => {
                    return Err(PyValueError::new_err(
                        "noise must be \"discrete_gaussian\" or \"skellam\"",
                    ));
                }
            };
            b = b.noise(kind, noise_multiplier, min_contributors);
        }
        let inner = b.build().map_err(|e| errors::encoding(py, &e))?;
        Ok(Self { inner })
    }

    /// The encoded vector length: the session's `vector_len`.
    #[getter]
    fn vector_len(&self) -> usize {
        self.inner.vector_len()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// What the configuration needs from the modulus for `max_contributors` clients
    /// (`smallest_modulus`, `smallest_bits`, the bounds).
    fn requirement<'py>(
        &self,
        py: Python<'py>,
        max_contributors: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let r = self
            .inner
            .requirement(max_contributors)
            .map_err(|e| errors::encoding(py, &e))?;
        requirement_dict(py, &r)
    }

    /// The preflight check: an `Encoder` if the sum of `max_contributors` encodings cannot
    /// wrap around `modulus`, else `EncodingError(kind="WouldWrap")` with `smallest_bits`.
    fn check(&self, py: Python<'_>, modulus: u128, max_contributors: usize) -> PyResult<Encoder> {
        let m = self::modulus(py, modulus)?;
        let config = self.inner.clone();
        let inner = py
            .detach(|| config.check(m, max_contributors))
            .map_err(|e| errors::encoding(py, &e))?;
        Ok(Encoder { inner })
    }
}

/// A configuration that passed the preflight check: encodes float vectors into `Z_m` and
/// decodes the session's sum back to the mean.
#[pyclass(module = "secagg._native", frozen)]
pub(crate) struct Encoder {
    pub(crate) inner: Encoding,
}

/// A float update borrowed from numpy: `float32` or `float64`, 1-D; a contiguous array is
/// read in place, any other copied once.
pub(crate) enum Update<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    F64(PyReadonlyArray1<'py, f64>),
}

impl<'py> Update<'py> {
    pub(crate) fn extract(update: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(a) = update.extract::<PyReadonlyArray1<'py, f32>>() {
            return Ok(Self::F32(a));
        }
        update
            .extract::<PyReadonlyArray1<'py, f64>>()
            .map(Self::F64)
            .map_err(|_| PyTypeError::new_err("the update must be a 1-D float32 or float64 array"))
    }
}

fn slice_or_copy<'a, T: numpy::Element + Copy>(a: &'a PyReadonlyArray1<'_, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

/// Encodes `update` in one pass (`Encoding::encode_one_pass`), without the GIL.
pub(crate) fn encode_update(
    py: Python<'_>,
    enc: &Encoding,
    update: &Update<'_>,
    weight: Option<u32>,
    rng: &mut chacha20::ChaCha20Rng,
) -> PyResult<(PlainInput, ClipReport)> {
    let result = match update {
        Update::F32(a) => {
            let values = slice_or_copy(a);
            py.detach(|| enc.encode_one_pass(&values, weight, rng))
        }
        Update::F64(a) => {
            let values = slice_or_copy(a);
            py.detach(|| enc.encode_one_pass(&values, weight, rng))
        }
    };
    result.map_err(|e| errors::encoding(py, &e))
}

pub(crate) fn report_dict<'py>(
    py: Python<'py>,
    report: &ClipReport,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("norm", report.norm)?;
    d.set_item("l2_clipped", report.l2_clipped)?;
    d.set_item("coordinates_clipped", report.coordinates_clipped)?;
    d.set_item("clipped", report.clipped())?;
    Ok(d)
}

#[pymethods]
impl Encoder {
    /// Encodes one client's update (float32 or float64; NaN and infinities raise
    /// `EncodingError(kind="NonFinite")`); returns the uint64 vector for
    /// `ClientSession.handle_with_input` and the clipping report.
    /// `ClientSession.handle_with_update` encodes and masks without this copy.
    #[pyo3(signature = (update, weight=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        update: &Bound<'py, PyAny>,
        weight: Option<u32>,
    ) -> PyResult<(Bound<'py, PyArray1<u64>>, Bound<'py, PyDict>)> {
        let update = Update::extract(update)?;
        let mut rng = rng::os()?;
        let (plain, report) = encode_update(py, &self.inner, &update, weight, &mut rng)?;
        Ok((
            PyArray1::from_slice(py, plain.as_slice()),
            report_dict(py, &report)?,
        ))
    }

    /// Decodes the sum of `contributors` encodings to their (weighted) mean.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        sum: PyReadonlyArray1<'py, u64>,
        contributors: usize,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let owned;
        let values: &[u64] = match sum.as_slice() {
            Ok(s) => s,
            Err(_) => {
                owned = sum.as_array().iter().copied().collect::<Vec<_>>();
                &owned
            }
        };
        let enc = &self.inner;
        let mean = py
            .detach(|| enc.decode(values, contributors))
            .map_err(|e| errors::encoding(py, &e))?;
        Ok(PyArray1::from_vec(py, mean))
    }

    /// Checks that a session's parameters fit this encoding (modulus, length, client count,
    /// threshold against the noise's `min_contributors`).
    fn check_params(&self, py: Python<'_>, params: &Params) -> PyResult<()> {
        self.inner
            .check_params(&params.inner)
            .map_err(|e| errors::encoding(py, &e))
    }

    /// `(ε, δ)` after `rounds` released sums with this encoding's noise (the accountant).
    fn privacy<'py>(
        &self,
        py: Python<'py>,
        rounds: u64,
        delta: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let p = self
            .inner
            .privacy(rounds, delta)
            .map_err(|e| errors::encoding(py, &e))?;
        let d = PyDict::new(py);
        d.set_item("epsilon", p.epsilon)?;
        d.set_item("delta", p.delta)?;
        d.set_item("order", p.order)?;
        d.set_item("rounds", p.rounds)?;
        Ok(d)
    }

    #[getter]
    fn modulus(&self) -> u128 {
        self.inner.modulus().value()
    }

    #[getter]
    fn vector_len(&self) -> usize {
        self.inner.vector_len()
    }

    /// The passed preflight budget: the requirement, `capacity` and `wrap_probability`.
    #[getter]
    fn budget<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = self.inner.budget();
        let d = requirement_dict(py, &b.requirement)?;
        d.set_item("modulus", b.modulus.value())?;
        d.set_item("capacity", b.capacity)?;
        d.set_item("wrap_probability", b.wrap_probability)?;
        Ok(d)
    }
}

/// The public rotation seed of a session.
#[pyfunction]
pub(crate) fn rotation_seed<'py>(py: Python<'py>, session: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let SessionId(id) = session_id(session)?;
    Ok(PyBytes::new(py, &rs_rotation_seed(&SessionId(id))))
}

/// The sparsest safe SecAgg+ graph for `clients` clients with the given dropout and
/// corruption rates: a dict with `neighbours` (None on the complete graph), `k`, `threshold`
/// and the expected mask expansions.
#[pyfunction]
#[pyo3(signature = (clients, dropout, corrupt, *, threat_model="honest_but_curious", sigma=None, eta=None, require_majority=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn find_params<'py>(
    py: Python<'py>,
    clients: usize,
    dropout: f64,
    corrupt: f64,
    threat_model: &str,
    sigma: Option<u32>,
    eta: Option<u32>,
    require_majority: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let mut input = FinderInput::new(clients, dropout, corrupt, self::threat_model(threat_model)?);
    if let Some(s) = sigma {
        input.sigma = s;
    }
    if let Some(e) = eta {
        input.eta = e;
    }
    input.require_majority = require_majority;
    let found = py
        .detach(|| find(&input))
        .map_err(|e| errors::finder(py, &e))?;
    let d = PyDict::new(py);
    let neighbours = match found.graph {
        Neighbourhood::Harary { k } => Some(k),
        _ => None,
    };
    d.set_item("neighbours", neighbours)?;
    d.set_item("k", found.k)?;
    d.set_item("threshold", found.t)?;
    d.set_item("client_mask_expansions", found.client_mask_expansions)?;
    d.set_item("server_mask_expansions", found.server_mask_expansions)?;
    Ok(d)
}
