//! `ClientSession` and `ServerSession` over bytes: each call converts, releases the GIL for
//! the cryptographic work, and delegates to `secagg::protocol::session`.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use secagg::protocol::client::Identity;
use secagg::protocol::session::{
    ClientSession as RsClientSession, Closed, ServerSession as RsServerSession,
};
use secagg::{ClientId, Params as RsParams};

use crate::encoding::{Encoder, Update, encode_update, report_dict};
use crate::errors;
use crate::params::{IdentityKey, Params, Pki, StateKey};
use crate::rng;

fn identity(key: Option<&IdentityKey>, pki: Option<&Pki>) -> PyResult<Option<Identity>> {
    match (key, pki) {
        (None, None) => Ok(None),
        (Some(k), Some(p)) => Ok(Some(Identity::new(k.key(), p.inner.clone()))),
        _ => Err(PyValueError::new_err(
            "give both identity_key and pki (malicious-server mode) or neither",
        )),
    }
}

fn round_name<T: core::fmt::Debug>(round: &T) -> String {
    format!("{round:?}")
}

/// A client's whole session over bytes. Each `handle*` call advances it in place; after an
/// error the session is over (its secrets are gone) and every further call raises
/// `ApiMisuseError(kind="SessionOver")`.
#[pyclass(module = "secagg._native")]
pub(crate) struct ClientSession {
    inner: Option<RsClientSession>,
    params: RsParams,
}

impl ClientSession {
    fn state(&self, py: Python<'_>) -> PyResult<&RsClientSession> {
        self.inner
            .as_ref()
            .ok_or_else(|| errors::misuse(py, "SessionOver", "the client session is over"))
    }

    fn take(&mut self, py: Python<'_>) -> PyResult<RsClientSession> {
        self.inner
            .take()
            .ok_or_else(|| errors::misuse(py, "SessionOver", "the client session is over"))
    }
}

#[pymethods]
impl ClientSession {
    /// Starts a client; returns the session and the AdvertiseKeys bytes to send.
    #[staticmethod]
    #[pyo3(signature = (params, id, *, identity_key=None, pki=None))]
    fn start<'py>(
        py: Python<'py>,
        params: &Params,
        id: u32,
        identity_key: Option<PyRef<'_, IdentityKey>>,
        pki: Option<PyRef<'_, Pki>>,
    ) -> PyResult<(Self, Bound<'py, PyBytes>)> {
        let identity = identity(identity_key.as_deref(), pki.as_deref())?;
        let mut rng = rng::os()?;
        let p = params.inner.clone();
        let (inner, out) =
            py.detach(|| RsClientSession::start(&p, ClientId(id), identity, &mut rng));
        Ok((
            Self {
                inner: Some(inner),
                params: p,
            },
            PyBytes::new(py, &out),
        ))
    }

    /// Whether the next server message (the shares delivery) needs the input.
    #[getter]
    fn needs_input(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.state(py)?.needs_input())
    }

    /// 0 after AdvertiseKeys, then one more per answered message (4: done).
    #[getter]
    fn stage(&self, py: Python<'_>) -> PyResult<u8> {
        Ok(self.state(py)?.stage())
    }

    /// The round whose server message the client waits for.
    #[getter]
    fn round(&self, py: Python<'_>) -> PyResult<String> {
        Ok(round_name(&self.state(py)?.round()))
    }

    /// Whether the session is still usable (no error happened).
    #[getter]
    fn alive(&self) -> bool {
        self.inner.is_some()
    }

    /// Handles a server message that needs no input; returns the bytes to send.
    fn handle<'py>(&mut self, py: Python<'py>, message: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let state = self.take(py)?;
        let mut rng = rng::os()?;
        let params = &self.params;
        let (next, out) = py
            .detach(|| state.handle(params, message, &mut rng))
            .map_err(|e| errors::protocol(py, &e))?;
        self.inner = Some(next);
        Ok(PyBytes::new(py, &out))
    }

    /// Handles the shares delivery with the input (a contiguous numpy uint64 array of
    /// `vector_len` elements below the modulus, borrowed, not copied); returns the masked
    /// input's bytes.
    fn handle_with_input<'py>(
        &mut self,
        py: Python<'py>,
        message: &[u8],
        input: PyReadonlyArray1<'py, u64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let values = input
            .as_slice()
            .map_err(|_| PyValueError::new_err("the input must be a contiguous uint64 array"))?;
        let state = self.take(py)?;
        let mut rng = rng::os()?;
        let params = &self.params;
        let (next, out) = py
            .detach(|| state.handle_with_input(params, message, values, &mut rng))
            .map_err(|e| errors::protocol(py, &e))?;
        self.inner = Some(next);
        Ok(PyBytes::new(py, &out))
    }

    /// Encodes `update` with `encoder` and masks it: the shares delivery's answer, in one
    /// call without the GIL. The encoded input never reaches Python (it is zeroized here);
    /// returns the masked input's bytes and the clipping report. An encoding error (NaN,
    /// a wrong length or weight) leaves the session as it was.
    #[pyo3(signature = (message, encoder, update, weight=None))]
    fn handle_with_update<'py>(
        &mut self,
        py: Python<'py>,
        message: &[u8],
        encoder: &Encoder,
        update: &Bound<'py, PyAny>,
        weight: Option<u32>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyDict>)> {
        self.state(py)?;
        let update = Update::extract(update)?;
        let mut rng = rng::os()?;
        let (plain, report) = encode_update(py, &encoder.inner, &update, weight, &mut rng)?;
        let state = self.take(py)?;
        let params = &self.params;
        let (next, out) = py
            .detach(|| state.handle_with_input(params, message, plain.as_slice(), &mut rng))
            .map_err(|e| errors::protocol(py, &e))?;
        drop(plain);
        self.inner = Some(next);
        Ok((PyBytes::new(py, &out), report_dict(py, &report)?))
    }

    /// The session sealed under `key`: store it (and `stage`) before sending the bytes the
    /// last step returned.
    fn seal<'py>(&self, py: Python<'py>, key: &StateKey) -> PyResult<Bound<'py, PyBytes>> {
        let state = self.state(py)?;
        let mut rng = rng::os()?;
        let sealed = py.detach(|| state.seal(&key.inner, &mut rng));
        Ok(PyBytes::new(py, &sealed))
    }

    /// Restores a sealed session; refuses a state older than `newest_stage`.
    #[staticmethod]
    #[pyo3(signature = (data, key, params, id, *, newest_stage=0, identity_key=None, pki=None))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        data: &[u8],
        key: &StateKey,
        params: &Params,
        id: u32,
        newest_stage: u8,
        identity_key: Option<PyRef<'_, IdentityKey>>,
        pki: Option<PyRef<'_, Pki>>,
    ) -> PyResult<Self> {
        let identity = identity(identity_key.as_deref(), pki.as_deref())?;
        let p = params.inner.clone();
        let inner = py
            .detach(|| {
                RsClientSession::open(data, &key.inner, &p, ClientId(id), identity, newest_stage)
            })
            .map_err(|e| errors::state(py, &e))?;
        Ok(Self {
            inner: Some(inner),
            params: p,
        })
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            Some(s) => format!("ClientSession(stage={}, round={:?})", s.stage(), s.round()),
            None => "ClientSession(over)".to_owned(),
        }
    }
}

/// The session's result: the sum of the included clients' inputs mod m.
#[pyclass(module = "secagg._native", frozen)]
pub(crate) struct Output {
    sum: Py<PyArray1<u64>>,
    included: Vec<u32>,
    mask_expansions: usize,
}

#[pymethods]
impl Output {
    /// `sum_{u in included} x_u mod m` (uint64).
    #[getter]
    fn sum(&self, py: Python<'_>) -> Py<PyArray1<u64>> {
        self.sum.clone_ref(py)
    }
    /// The clients whose inputs are in the sum, ascending.
    #[getter]
    fn included(&self) -> Vec<u32> {
        self.included.clone()
    }
    #[getter]
    fn mask_expansions(&self) -> usize {
        self.mask_expansions
    }
    fn __repr__(&self) -> String {
        format!("Output(included={} clients)", self.included.len())
    }
}

/// The server's whole session: `receive` each client's bytes, `close` each round.
#[pyclass(module = "secagg._native")]
pub(crate) struct ServerSession {
    inner: Option<RsServerSession>,
    params: RsParams,
}

impl ServerSession {
    fn state(&self, py: Python<'_>) -> PyResult<&RsServerSession> {
        self.inner
            .as_ref()
            .ok_or_else(|| errors::misuse(py, "SessionOver", "the server session is over"))
    }
}

#[pymethods]
impl ServerSession {
    #[new]
    #[pyo3(signature = (params, pki=None))]
    fn new(params: &Params, pki: Option<PyRef<'_, Pki>>) -> Self {
        let p = params.inner.clone();
        Self {
            inner: Some(RsServerSession::new(&p, pki.map(|k| k.inner.clone()))),
            params: p,
        }
    }

    /// The round whose client messages the server collects.
    #[getter]
    fn round(&self, py: Python<'_>) -> PyResult<String> {
        Ok(round_name(&self.state(py)?.round()))
    }

    /// Whether the session is still open (not finished, not aborted).
    #[getter]
    fn alive(&self) -> bool {
        self.inner.is_some()
    }

    /// Receives one client's bytes; `MisbehaviorError` (with `client`) for a rejected
    /// message: the session goes on without it.
    #[pyo3(signature = (sender, message))]
    fn receive(&mut self, py: Python<'_>, sender: u32, message: &[u8]) -> PyResult<()> {
        let params = &self.params;
        let state = self
            .inner
            .as_mut()
            .ok_or_else(|| errors::misuse(py, "SessionOver", "the server session is over"))?;
        py.detach(|| state.receive(params, ClientId(sender), message))
            .map_err(|r| errors::rejected(py, &r))
    }

    /// Closes the round: returns the next round's envelopes, a list of
    /// `(recipients, bytes)`, or the `Output` once the session is done. After an abort the
    /// session is over.
    fn close(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let state = self
            .inner
            .take()
            .ok_or_else(|| errors::misuse(py, "SessionOver", "the server session is over"))?;
        let params = &self.params;
        let closed = py
            .detach(|| state.close(params))
            .map_err(|e| errors::protocol(py, &e))?;
        match closed {
            Closed::Next(next, envelopes) => {
                self.inner = Some(*next);
                let list = PyList::empty(py);
                for e in envelopes {
                    let to: Vec<u32> = e.to.iter().map(|c| c.0).collect();
                    let item = PyTuple::new(
                        py,
                        [
                            to.into_pyobject(py)?.into_any(),
                            PyBytes::new(py, &e.bytes).into_any(),
                        ],
                    )?;
                    list.append(item)?;
                }
                Ok(list.into_any().unbind())
            }
            Closed::Done(output) => {
                let included = output.included.iter().map(|c| c.0).collect();
                let mask_expansions = output.mask_expansions;
                let sum = PyArray1::from_vec(py, output.sum).unbind();
                let out = Output {
                    sum,
                    included,
                    mask_expansions,
                };
                Ok(Bound::new(py, out)?.into_any().unbind())
            }
        }
    }

    fn seal<'py>(&self, py: Python<'py>, key: &StateKey) -> PyResult<Bound<'py, PyBytes>> {
        let state = self.state(py)?;
        let mut rng = rng::os()?;
        let sealed = py.detach(|| state.seal(&key.inner, &mut rng));
        Ok(PyBytes::new(py, &sealed))
    }

    #[staticmethod]
    #[pyo3(signature = (data, key, params, pki=None))]
    fn open(
        py: Python<'_>,
        data: &[u8],
        key: &StateKey,
        params: &Params,
        pki: Option<PyRef<'_, Pki>>,
    ) -> PyResult<Self> {
        let p = params.inner.clone();
        let pki = pki.map(|k| k.inner.clone());
        let inner = py
            .detach(|| RsServerSession::open(data, &key.inner, &p, pki))
            .map_err(|e| errors::state(py, &e))?;
        Ok(Self {
            inner: Some(inner),
            params: p,
        })
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            Some(s) => format!("ServerSession(round={:?})", s.round()),
            None => "ServerSession(over)".to_owned(),
        }
    }
}
