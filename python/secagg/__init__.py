"""Secure aggregation (Bonawitz et al., CCS 2017; SecAgg+) backed by the Rust ``secagg`` crate.

The core API moves bytes: a server hands ``Params.to_bytes()`` to its clients, each client
runs a :class:`ClientSession`, the server a :class:`ServerSession`; the caller moves the
messages. Float updates go through :class:`EncoderConfig` / :class:`Encoder`, whose
preflight check proves that the sum cannot wrap around the modulus.

Every error is a :class:`SecAggError`; its subclasses name the category and each instance
carries ``kind`` (the Rust variant's name), and where known ``round``, ``by`` and ``client``.

The Flower drop-in lives in :mod:`secagg.flower` (install ``secagg[flower]``).
"""

from ._native import (
    WIRE_VERSION,
    AbortError,
    ApiMisuseError,
    ClientSession,
    ConfigError,
    Encoder,
    EncoderConfig,
    EncodingError,
    IdentityKey,
    MisbehaviorError,
    Output,
    Params,
    Pki,
    SecAggError,
    ServerSession,
    StateError,
    StateKey,
    find_params,
    rotation_seed,
)

__all__ = [
    "WIRE_VERSION",
    "AbortError",
    "ApiMisuseError",
    "ClientSession",
    "ConfigError",
    "Encoder",
    "EncoderConfig",
    "EncodingError",
    "IdentityKey",
    "MisbehaviorError",
    "Output",
    "Params",
    "Pki",
    "SecAggError",
    "ServerSession",
    "StateError",
    "StateKey",
    "find_params",
    "rotation_seed",
]
__version__ = "0.1.0"
