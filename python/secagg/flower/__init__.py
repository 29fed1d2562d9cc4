"""A drop-in for Flower 1.42's secure aggregation: change two imports.

.. code-block:: python

    # from flwr.client.mod import secaggplus_mod
    # from flwr.server.workflow import SecAggPlusWorkflow
    from secagg.flower import secaggplus_mod, SecAggPlusWorkflow

The ClientApp adds ``secaggplus_mod`` to its mods, the ServerApp runs
``DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(...))`` with a ``LegacyContext`` and a
legacy strategy, exactly as with Flower's own. Underneath runs the ``secagg`` protocol:
X25519 key agreement, ChaCha20 (or AES-CTR) masks, Shamir shares over curve25519, one
protocol message per Flower message under the record ``secagg_rs``.

What differs from Flower's own (each a fix):

* the client state in the ``Context`` is sealed (XChaCha20-Poly1305) under a key that stays
  on the SuperNode (:mod:`secagg.flower._keys` says where it comes from);
* NaN or infinite updates are refused with ``EncodingError(kind="NonFinite")``: that client
  drops out of the round, the others are aggregated;
* the modulus is chosen so that the sum cannot wrap around (``modulus_range`` is a floor);
* an even ``num_shares`` works; masks come from a cryptographic PRG.

Against a malicious server (one that may deviate, add clients of its own or show clients
different rosters): ``SecAggPlusWorkflow(..., threat_model="malicious", directory=path)``
with a public-key directory every SuperNode also holds (node config
``secagg-directory-file`` and ``secagg-identity-key-file``); :mod:`secagg.flower._identity`
says where the keys come from and what is protected.

Requires ``pip install "secagg[flower]"``.
"""

from ._identity import (
    NODE_CONFIG_DIRECTORY,
    NODE_CONFIG_IDENTITY_KEY,
    Directory,
    generate_identity,
    roster_session,
)
from ._keys import NODE_CONFIG_KEY_FILE, state_key
from ._mod import secagg_mod, secaggplus_mod
from ._workflow import RoundReport, SecAggPlusWorkflow, SecAggWorkflow

__all__ = [
    "NODE_CONFIG_DIRECTORY",
    "NODE_CONFIG_IDENTITY_KEY",
    "NODE_CONFIG_KEY_FILE",
    "Directory",
    "generate_identity",
    "roster_session",
    "RoundReport",
    "SecAggPlusWorkflow",
    "SecAggWorkflow",
    "secagg_mod",
    "secaggplus_mod",
    "state_key",
]
