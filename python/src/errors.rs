//! One exception hierarchy for every Rust error: `SecAggError` and a subclass per category,
//! each instance carrying `kind` (the Rust variant's name) and, where known, `round`,
//! `client` and `by`. Messages are the Rust `Display` texts, which never hold secrets.

use core::fmt::{Debug, Display};

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::{PyErr, Python, create_exception};

use secagg::encoding::EncodingError as RsEncodingError;
use secagg::finder::FinderError;
use secagg::{Error, Party, Rejected, StateError as RsStateError};

create_exception!(
    _native,
    SecAggError,
    PyException,
    "Base of every secagg error; `kind` names the reason."
);
create_exception!(
    _native,
    ConfigError,
    SecAggError,
    "Invalid or unsafe parameters."
);
create_exception!(
    _native,
    AbortError,
    SecAggError,
    "The session cannot finish."
);
create_exception!(
    _native,
    MisbehaviorError,
    SecAggError,
    "A party sent a message that breaks the protocol (or that does not decode)."
);
create_exception!(
    _native,
    EncodingError,
    SecAggError,
    "Float encoding, preflight or decoding failed (NaN, wrap-around, ...)."
);
create_exception!(
    _native,
    StateError,
    SecAggError,
    "A sealed state does not open (wrong key, tampered, rolled back, other session)."
);
create_exception!(
    _native,
    ApiMisuseError,
    SecAggError,
    "The API was used wrongly (wrong round, input length, a finished session)."
);

/// The variant's name: the Debug text up to its first field.
fn kind<T: Debug>(value: &T) -> String {
    let text = format!("{value:?}");
    text.chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Builds an exception of class `E` with its attributes set.
fn build<E: pyo3::type_object::PyTypeInfo>(
    py: Python<'_>,
    message: impl Display,
    kind: String,
    extra: &[(&str, Option<Py<PyAny>>)],
) -> PyErr {
    let err = PyErr::new::<E, _>(message.to_string());
    let value = err.value(py);
    // Setting an attribute on a fresh exception instance fails only without memory; the
    // error then still carries its class and message.
    let _ = value.setattr("kind", kind);
    for (name, attr) in extra {
        let _ = value.setattr(*name, attr.as_ref().map(|a| a.clone_ref(py)));
    }
    err
}

fn int(py: Python<'_>, v: u32) -> Option<Py<PyAny>> {
    v.into_pyobject(py).ok().map(|b| b.into_any().unbind())
}

fn text(py: Python<'_>, v: String) -> Option<Py<PyAny>> {
    v.into_pyobject(py).ok().map(|b| b.into_any().unbind())
}

/// A protocol error.
pub(crate) fn protocol(py: Python<'_>, e: &Error) -> PyErr {
    match e {
        Error::Config(c) => build::<ConfigError>(py, e, kind(c), &[]),
        Error::Misbehaved { by, round, what } => {
            let (by, client) = match by {
                Party::Server => ("server".to_owned(), None),
                Party::Client(id) => ("client".to_owned(), int(py, id.0)),
                other => (kind(other), None),
            };
            build::<MisbehaviorError>(
                py,
                e,
                kind(what),
                &[
                    ("round", text(py, kind(round))),
                    ("by", text(py, by)),
                    ("client", client),
                ],
            )
        }
        Error::Abort(r) => build::<AbortError>(py, e, kind(r), &[]),
        Error::ApiMisuse(a) => build::<ApiMisuseError>(py, e, kind(a), &[]),
        other => build::<SecAggError>(py, e, kind(other), &[]),
    }
}

/// A message the server rejected: the session goes on without it.
pub(crate) fn rejected(py: Python<'_>, r: &Rejected) -> PyErr {
    build::<MisbehaviorError>(
        py,
        r,
        kind(&r.reason),
        &[
            ("round", text(py, kind(&r.round))),
            ("by", text(py, "client".to_owned())),
            ("client", int(py, r.client.0)),
        ],
    )
}

/// A sealed state that does not open.
pub(crate) fn state(py: Python<'_>, e: &RsStateError) -> PyErr {
    build::<StateError>(py, e, kind(e), &[])
}

/// A configuration error outside a session.
pub(crate) fn config(py: Python<'_>, e: &secagg::ConfigError) -> PyErr {
    build::<ConfigError>(py, e, kind(e), &[])
}

/// An encoding error.
pub(crate) fn encoding(py: Python<'_>, e: &RsEncodingError) -> PyErr {
    let extra: Vec<(&str, Option<Py<PyAny>>)> = match e {
        RsEncodingError::WouldWrap { smallest_bits, .. }
        | RsEncodingError::NoiseMayWrap { smallest_bits, .. } => {
            Vec::from([("smallest_bits", int(py, *smallest_bits))])
        }
        RsEncodingError::NonFinite { index } => Vec::from([(
            "index",
            index.into_pyobject(py).ok().map(|b| b.into_any().unbind()),
        )]),
        _ => Vec::new(),
    };
    build::<EncodingError>(py, e, kind(e), &extra)
}

/// The parameter finder found nothing.
pub(crate) fn finder(py: Python<'_>, e: &FinderError) -> PyErr {
    build::<ConfigError>(py, e, kind(e), &[])
}

/// A configuration error of the binding itself (a key file, a verifying key), with its kind.
pub(crate) fn config_kind(py: Python<'_>, kind_name: &str, message: &str) -> PyErr {
    build::<ConfigError>(py, message, kind_name.to_owned(), &[])
}

/// A usage error of the binding itself (a finished session, a bad argument).
pub(crate) fn misuse(py: Python<'_>, kind_name: &str, message: &str) -> PyErr {
    build::<ApiMisuseError>(py, message, kind_name.to_owned(), &[])
}

/// Registers the classes in the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SecAggError", py.get_type::<SecAggError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("AbortError", py.get_type::<AbortError>())?;
    m.add("MisbehaviorError", py.get_type::<MisbehaviorError>())?;
    m.add("EncodingError", py.get_type::<EncodingError>())?;
    m.add("StateError", py.get_type::<StateError>())?;
    m.add("ApiMisuseError", py.get_type::<ApiMisuseError>())?;
    Ok(())
}
