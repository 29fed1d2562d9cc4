//! `Params`, `StateKey`, `IdentityKey` and `Pki`: validated values, converted and delegated.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use secagg::protocol::state::StateKey as RsStateKey;
use secagg::{
    ClientId, Expectations, IdentityKey as RsIdentityKey, IdentityPublicKey, MaskSuite, Modulus,
    Neighbourhood, Params as RsParams, Pki as RsPki, SessionId, ThreatModel,
};

use zeroize::Zeroizing;

use crate::errors;
use crate::rng;

pub(crate) fn threat_model(name: &str) -> PyResult<ThreatModel> {
    match name {
        "honest_but_curious" => Ok(ThreatModel::HonestButCurious),
        "malicious" => Ok(ThreatModel::Malicious),
        _ => Err(PyValueError::new_err(
            "threat_model must be \"honest_but_curious\" or \"malicious\"",
        )),
    }
}

pub(crate) fn threat_model_name(t: ThreatModel) -> &'static str {
    match t {
        ThreatModel::HonestButCurious => "honest_but_curious",
        ThreatModel::Malicious => "malicious",
    }
}

fn mask_suite(name: &str) -> PyResult<MaskSuite> {
    match name {
        "chacha20" => Ok(MaskSuite::ChaCha20),
        "aes128ctr" => Ok(MaskSuite::Aes128Ctr),
        _ => Err(PyValueError::new_err(
            "mask_suite must be \"chacha20\" or \"aes128ctr\"",
        )),
    }
}

pub(crate) fn session_id(bytes: &[u8]) -> PyResult<SessionId> {
    let id: [u8; 32] = bytes
        .try_into()
        .map_err(|_| PyValueError::new_err("a session id is 32 bytes"))?;
    Ok(SessionId(id))
}

/// `2 <= m <= 2^64`; `2^64` is plain `u64` wrap-around.
pub(crate) fn modulus(py: Python<'_>, m: u128) -> PyResult<Modulus> {
    let r = if m == 1u128 << 64 {
        Modulus::power_of_two(64)
    } else {
        let m = u64::try_from(m).map_err(|_| PyValueError::new_err("modulus above 2^64"))?;
        Modulus::new(m)
    };
    r.map_err(|e| errors::config(py, &e))
}

/// The parameters of one session, shared by the server and every client.
#[pyclass(module = "secagg._native", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct Params {
    pub(crate) inner: RsParams,
}

#[pymethods]
impl Params {
    #[new]
    #[pyo3(signature = (session, clients, modulus, vector_len, *, neighbours=None, threshold=None,
        threat_model="honest_but_curious", mask_suite="chacha20", min_roster=None,
        require_majority=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        session: &[u8],
        clients: usize,
        modulus: u128,
        vector_len: usize,
        neighbours: Option<usize>,
        threshold: Option<usize>,
        threat_model: &str,
        mask_suite: &str,
        min_roster: Option<usize>,
        require_majority: bool,
    ) -> PyResult<Self> {
        let mut b = RsParams::builder(
            session_id(session)?,
            clients,
            self::modulus(py, modulus)?,
            vector_len,
        )
        .threat_model(self::threat_model(threat_model)?)
        .mask_suite(self::mask_suite(mask_suite)?)
        .require_majority(require_majority);
        if let Some(k) = neighbours {
            b = b.neighbours(k);
        }
        if let Some(t) = threshold {
            b = b.threshold(t);
        }
        if let Some(r) = min_roster {
            b = b.min_roster(r);
        }
        let inner = b.build().map_err(|e| errors::config(py, &e))?;
        Ok(Self { inner })
    }

    /// The canonical 65-byte encoding a server hands its clients.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// Parses parameters; use `from_bytes_expecting` on a client that must not accept
    /// weaker parameters than it expects.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let inner = RsParams::from_bytes(data).map_err(|e| errors::config(py, &e))?;
        Ok(Self { inner })
    }

    /// Parses parameters and checks them against the client's own floors.
    #[staticmethod]
    #[pyo3(signature = (data, *, session, threat_model, min_threshold, min_neighbours, max_clients, max_vector_len, require_majority=false))]
    #[allow(clippy::too_many_arguments)]
    fn from_bytes_expecting(
        py: Python<'_>,
        data: &[u8],
        session: &[u8],
        threat_model: &str,
        min_threshold: usize,
        min_neighbours: usize,
        max_clients: usize,
        max_vector_len: usize,
        require_majority: bool,
    ) -> PyResult<Self> {
        let expect = Expectations {
            session: session_id(session)?,
            threat_model: self::threat_model(threat_model)?,
            min_threshold,
            min_neighbours,
            max_clients,
            max_vector_len,
            require_majority,
        };
        let inner =
            RsParams::from_bytes_expecting(data, &expect).map_err(|e| errors::config(py, &e))?;
        Ok(Self { inner })
    }

    #[getter]
    fn session<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.session().as_bytes())
    }
    #[getter]
    fn clients(&self) -> usize {
        self.inner.clients()
    }
    #[getter]
    fn threshold(&self) -> usize {
        self.inner.threshold()
    }
    #[getter]
    fn modulus(&self) -> u128 {
        self.inner.modulus().value()
    }
    #[getter]
    fn vector_len(&self) -> usize {
        self.inner.vector_len()
    }
    /// The degree `k` of the Harary graph, or `None` on the complete graph (SecAgg).
    #[getter]
    fn neighbours(&self) -> Option<usize> {
        match self.inner.neighbourhood() {
            Neighbourhood::Harary { k } => Some(k),
            _ => None,
        }
    }
    #[getter]
    fn share_holders(&self) -> usize {
        self.inner.share_holders()
    }
    #[getter]
    fn threat_model(&self) -> &'static str {
        threat_model_name(self.inner.threat_model())
    }
    #[getter]
    fn mask_suite(&self) -> &'static str {
        match self.inner.mask_suite() {
            MaskSuite::Aes128Ctr => "aes128ctr",
            _ => "chacha20",
        }
    }
    #[getter]
    fn min_roster(&self) -> usize {
        self.inner.min_roster()
    }

    fn __repr__(&self) -> String {
        format!(
            "Params(clients={}, threshold={}, modulus={}, vector_len={}, neighbours={:?}, threat_model={:?})",
            self.inner.clients(),
            self.inner.threshold(),
            self.inner.modulus().value(),
            self.inner.vector_len(),
            self.neighbours(),
            self.threat_model(),
        )
    }
}

/// The key that seals saved states. Its bytes never leave it (no accessor, a redacted repr).
#[pyclass(module = "secagg._native", frozen)]
pub(crate) struct StateKey {
    pub(crate) inner: RsStateKey,
}

#[pymethods]
impl StateKey {
    #[new]
    fn new(key: &[u8]) -> PyResult<Self> {
        let bytes: [u8; 32] = key
            .try_into()
            .map_err(|_| PyValueError::new_err("a state key is 32 bytes"))?;
        Ok(Self {
            inner: RsStateKey::new(bytes),
        })
    }

    /// A fresh key from the operating system's randomness.
    #[staticmethod]
    fn generate() -> PyResult<Self> {
        let mut rng = rng::os()?;
        Ok(Self {
            inner: RsStateKey::generate(&mut rng),
        })
    }

    fn __repr__(&self) -> &'static str {
        "StateKey(<redacted>)"
    }
}

/// A client's long-term Ed25519 signing key (malicious-server mode).
#[pyclass(module = "secagg._native", frozen)]
pub(crate) struct IdentityKey {
    seed: Zeroizing<[u8; 32]>,
}

impl IdentityKey {
    pub(crate) fn key(&self) -> RsIdentityKey {
        RsIdentityKey::from_seed(&self.seed)
    }
}

/// The largest identity key file read: 32 raw bytes or 64 hex characters, with room for a
/// trailing newline or comment-free whitespace; anything longer is refused unread.
const MAX_KEY_FILE: u64 = 256;

/// The 32-byte seed in `raw`: exactly 32 bytes, or 64 hex characters with surrounding
/// whitespace.
fn parse_seed(raw: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let mut seed = Zeroizing::new([0u8; 32]);
    if raw.len() == 32 {
        seed.copy_from_slice(raw);
        return Some(seed);
    }
    let text = raw.trim_ascii();
    if text.len() != 64 {
        return None;
    }
    for (byte, pair) in seed.iter_mut().zip(text.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(seed)
}

#[pymethods]
impl IdentityKey {
    #[staticmethod]
    fn from_seed(seed: &[u8]) -> PyResult<Self> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| PyValueError::new_err("an identity seed is 32 bytes"))?;
        Ok(Self {
            seed: Zeroizing::new(seed),
        })
    }

    /// Reads the key from a file holding its 32-byte seed, raw or as 64 hex characters.
    /// The seed is read into memory this module zeroizes; it never becomes a Python object.
    /// `ConfigError(kind="IdentityKeyFile")` when the file cannot be read or holds no key
    /// (the message names the path, never the contents).
    #[staticmethod]
    fn from_file(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        use std::io::Read;
        let fail = |why: &str| {
            errors::config_kind(
                py,
                "IdentityKeyFile",
                &format!("identity key file {}: {why}", path.display()),
            )
        };
        let file = std::fs::File::open(&path).map_err(|e| fail(&e.kind().to_string()))?;
        let mut raw = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE as usize + 1));
        file.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut raw)
            .map_err(|e| fail(&e.kind().to_string()))?;
        let seed =
            parse_seed(&raw).ok_or_else(|| fail("not a 32-byte key or 64 hex characters"))?;
        Ok(Self { seed })
    }

    #[staticmethod]
    fn generate() -> PyResult<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *seed).map_err(|_| rng::os_error())?;
        Ok(Self { seed })
    }

    /// The secret seed, to store the key (handle it as a secret).
    fn to_seed<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &*self.seed)
    }

    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key().public_key().to_bytes())
    }

    fn __repr__(&self) -> &'static str {
        "IdentityKey(<redacted>)"
    }
}

/// The PKI: each client's verifying key, by id.
#[pyclass(module = "secagg._native", frozen)]
#[derive(Clone)]
pub(crate) struct Pki {
    pub(crate) inner: RsPki,
}

#[pymethods]
impl Pki {
    #[new]
    fn new(keys: &Bound<'_, PyDict>) -> PyResult<Self> {
        let mut entries = Vec::with_capacity(keys.len());
        for (id, key) in keys.iter() {
            let id: u32 = id.extract()?;
            let key: Vec<u8> = key.extract()?;
            let bad = || {
                errors::config_kind(
                    keys.py(),
                    "VerifyingKey",
                    &format!("client {id}: not a 32-byte Ed25519 verifying key"),
                )
            };
            let key: [u8; 32] = key.as_slice().try_into().map_err(|_| bad())?;
            let key = IdentityPublicKey::from_bytes(&key).map_err(|_| bad())?;
            entries.push((ClientId(id), key));
        }
        Ok(Self {
            inner: RsPki::new(entries),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}
