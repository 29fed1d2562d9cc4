"""The client side: ``secaggplus_mod`` / ``secagg_mod``, Flower ``Mod``s.

Each TRAIN message of a secure-aggregation round carries one protocol message of ours under
the config record ``secagg_rs`` (bytes, ``docs/WIRE.md``); the reply carries the client's.
Between messages the client's session lives in ``context.state`` only sealed
(``secagg_rs_state``: the sealed bytes, the stage, and the public setup values); the
sealing key never enters the context (:mod:`secagg.flower._keys`).
"""

from __future__ import annotations

from logging import WARNING
from typing import Optional, cast

import numpy as np

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.clientapp.typing import ClientAppCallable
from flwr.supercore import log

from .._native import ApiMisuseError, ClientSession, ConfigError, Params
from ._common import FLOWER_RECORD, PROTOCOL_VERSION, RECORD, STATE_RECORD, encoder_config, error
from ._identity import Directory, node_directory, node_identity, roster_session
from ._keys import state_key

# The client's own floors in the malicious-server mode (node config entries, with defaults):
# a server cannot lower them.
NODE_CONFIG_MIN_THRESHOLD = "secagg-min-threshold"
NODE_CONFIG_MIN_NEIGHBOURS = "secagg-min-neighbours"
NODE_CONFIG_MAX_CLIENTS = "secagg-max-clients"
# Any mode: "true" makes this node refuse a threshold below a strict majority of the share
# holders (defence in depth against a server that deviates; the server cannot switch it off).
NODE_CONFIG_REQUIRE_MAJORITY = "secagg-require-majority"
_MAX_VECTOR_LEN = 1 << 28

_SETUP_KEYS = ("dim", "scale", "clipping_range", "max_weight", "weight_unit", "l2_clip", "noise",
               "noise_multiplier", "min_contributors")


def _foreign(msg: Message) -> Exception:
    if FLOWER_RECORD in msg.content.config_records:
        why = ("this message comes from Flower's own SecAggPlusWorkflow/SecAggWorkflow; "
               "with secagg.flower.secaggplus_mod the ServerApp must use "
               "secagg.flower.SecAggPlusWorkflow (or SecAggWorkflow)")
    else:
        why = (f"a TRAIN message without the '{RECORD}' record reached secagg.flower's mod: "
               "the ServerApp must run secagg.flower.SecAggPlusWorkflow as its fit workflow")
    return error(ConfigError, "ForeignWorkflow", why)


def _flatten(arrays: list[np.ndarray]) -> np.ndarray:
    """One flat vector, float32 if every array is (the encoder widens it exactly), float64
    otherwise; a single contiguous float array is read in place."""
    if not arrays:
        return np.zeros(0)
    dtype = np.float32 if all(np.asarray(a).dtype == np.float32 for a in arrays) else np.float64
    if len(arrays) == 1:
        return np.asarray(arrays[0], dtype=dtype).reshape(-1)
    return np.concatenate([np.asarray(a).reshape(-1) for a in arrays], dtype=dtype)


def secaggplus_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Handle a message of a secure-aggregation round (SecAgg+ or SecAgg: the server
    chooses the graph). Other messages pass through."""
    if msg.metadata.message_type != MessageType.TRAIN:
        return call_next(msg, ctxt)
    # RecordDict.config_records builds a fresh view on every access: read it once.
    records = msg.content.config_records
    if RECORD not in records:
        raise _foreign(msg)
    cfg = records[RECORD]
    stage = cast(str, cfg["stage"])
    node_config = dict(ctxt.node_config)
    if stage == "hello":
        return _hello(msg, cfg, node_config)
    key = state_key(node_config)
    out_content = RecordDict()
    roster: list[str] = []
    nonce = b""

    if stage == "setup":
        if int(cast(int, cfg.get("version", 0))) != PROTOCOL_VERSION:
            raise error(ConfigError, "Version", "secagg.flower: the server speaks another protocol version")
        params = Params.from_bytes(cast(bytes, cfg["params"]))
        client_id = int(cast(int, cfg["id"]))
        setup = {k: cfg[k] for k in _SETUP_KEYS if k in cfg}
        directory = node_directory(node_config)
        _check_majority(params, node_config)
        if directory is None and params.threat_model != "malicious":
            session, reply = ClientSession.start(params, client_id)
        else:
            params, identity, pki, roster, nonce = _malicious_setup(cfg, node_config, directory, client_id)
            session, reply = ClientSession.start(params, client_id, identity_key=identity, pki=pki)
        newest = 0
    else:
        state_records = ctxt.state.config_records
        if STATE_RECORD not in state_records:
            raise error(ApiMisuseError, "NoState", f"secagg.flower: stage '{stage}' before setup")
        st = state_records[STATE_RECORD]
        params = Params.from_bytes(cast(bytes, st["params"]))
        client_id = int(cast(int, st["id"]))
        setup = {k: st[k] for k in _SETUP_KEYS if k in st}
        newest = int(cast(int, st["stage"]))
        identity_kw: dict = {}
        if "roster" in st:
            roster, nonce = list(cast(list, st["roster"])), cast(bytes, st["nonce"])
            identity_kw = _identity(node_config, roster)
        session = ClientSession.open(cast(bytes, st["sealed"]), key, params, client_id, newest_stage=newest,
                                     **identity_kw)
        message = cast(bytes, cfg["msg"])
        if session.needs_input:
            reply, out_content = _train_and_mask(msg, ctxt, call_next, session, params, setup, message)
        else:
            reply = session.handle(message)

    # Store the new state (sealed) before the reply leaves.
    record = {"sealed": session.seal(key), "stage": session.stage, "params": params.to_bytes(),
              "id": client_id}
    record.update(setup)
    if roster:
        # Public: the names and the nonce the session id commits to.
        record.update(roster=roster, nonce=nonce)
    ctxt.state.config_records[STATE_RECORD] = ConfigRecord(record)
    out_content.config_records[RECORD] = ConfigRecord({"stage": stage, "msg": reply})
    return Message(out_content, reply_to=msg)


def _check_majority(params: Params, node_config: dict) -> None:
    if str(node_config.get(NODE_CONFIG_REQUIRE_MAJORITY, "false")).lower() not in ("true", "1", "yes"):
        return
    # SECURITY: with the node's majority policy, t must exceed half of the share holders
    # (two sets of t holders always intersect), whatever the server announces.
    if 2 * params.threshold <= params.share_holders:
        raise error(ConfigError, "Unexpected",
                    f"secagg.flower: threshold {params.threshold} is not a strict majority of the "
                    f"{params.share_holders} share holders, which this node requires")


def _require_directory(node_config: dict) -> Directory:
    directory = node_directory(node_config)
    if directory is None:
        raise error(ConfigError, "NoDirectory",
                    "secagg.flower: the server runs the malicious-server mode, which needs a "
                    "public-key directory on this node ('secagg-directory-file' in the node config)")
    return directory


def _hello(msg: Message, cfg, node_config: dict) -> Message:
    """The first message of a malicious-mode round: this node's name in its directory."""
    if int(cast(int, cfg.get("version", 0))) != PROTOCOL_VERSION:
        raise error(ConfigError, "Version", "secagg.flower: the server speaks another protocol version")
    directory = _require_directory(node_config)
    _, name = node_identity(node_config, directory)
    content = RecordDict()
    content.config_records[RECORD] = ConfigRecord({"stage": "hello", "name": name})
    return Message(content, reply_to=msg)


def _malicious_setup(cfg, node_config: dict, directory: Optional[Directory], client_id: int):
    """Checks a malicious-mode setup against this node's own directory and floors."""
    # SECURITY: a node with a directory runs only malicious-server sessions, so a server
    # cannot switch the signatures off by announcing the honest-but-curious mode.
    announced = Params.from_bytes(cast(bytes, cfg["params"]))
    if announced.threat_model != "malicious":
        raise error(ConfigError, "ThreatModel",
                    "secagg.flower: this node runs only malicious-server sessions (a directory is "
                    f"configured); the server asked for {announced.threat_model}")
    # SECURITY: no malicious-mode session without a directory the server does not control.
    if directory is None:
        directory = _require_directory(node_config)
    identity, name = node_identity(node_config, directory)
    if "roster" not in cfg or "nonce" not in cfg:
        raise error(ConfigError, "Roster", "secagg.flower: a malicious-mode setup without a roster")
    roster = [str(n) for n in cast(list, cfg["roster"])]
    nonce = bytes(cast(bytes, cfg["nonce"]))
    directory.check_roster(roster)
    if not 1 <= client_id <= len(roster) or roster[client_id - 1] != name:
        raise error(ConfigError, "Roster", "secagg.flower: the roster does not place this node at its client id")
    # SECURITY: the session id must commit to this roster with the keys of this node's own
    # directory: a server that substituted a key, or shows others another roster, runs
    # another session, which this client refuses here.
    params = Params.from_bytes_expecting(
        cast(bytes, cfg["params"]),
        session=roster_session(nonce, roster, directory),
        threat_model="malicious",
        min_threshold=int(node_config.get(NODE_CONFIG_MIN_THRESHOLD, 2)),
        min_neighbours=int(node_config.get(NODE_CONFIG_MIN_NEIGHBOURS, 2)),
        max_clients=min(len(roster), int(node_config.get(NODE_CONFIG_MAX_CLIENTS, 1 << 16))),
        max_vector_len=_MAX_VECTOR_LEN,
    )
    if params.clients != len(roster):
        raise error(ConfigError, "Roster", "secagg.flower: the roster does not list every client of the session")
    return params, identity, directory.pki(roster), roster, nonce


def _identity(node_config: dict, roster: list[str]) -> dict:
    directory = _require_directory(node_config)
    identity, _ = node_identity(node_config, directory)
    return {"identity_key": identity, "pki": directory.pki(roster)}


def _train_and_mask(msg, ctxt, call_next, session, params, setup, message) -> tuple[bytes, RecordDict]:
    """Local training (the next layer of the app), then the masked, encoded update."""
    out_msg = call_next(msg, ctxt)
    if out_msg.has_error():
        raise error(ApiMisuseError, "TrainingFailed", f"secagg.flower: local training failed: {out_msg.error.reason}")
    content = out_msg.content
    # The NumPyClient's reply in Flower's legacy layout ("fitres.*" records), read in place:
    # the arrays straight from the ArrayRecord (no FitRes, no Parameters copy).
    update = _flatten(content.array_records["fitres.parameters"].to_numpy_ndarrays())
    max_weight = int(setup["max_weight"])
    weight = int(cast(int, content.metric_records["fitres.num_examples"]["num_examples"]))
    if weight > max_weight:
        log(WARNING, "secagg.flower: num_examples %s above max_weight %s: counted as %s",
            weight, max_weight, max_weight)
        weight = max_weight
    encoder = encoder_config(setup).check(params.modulus, params.clients)
    # NaN and infinities raise EncodingError(kind="NonFinite"): the client drops out of the
    # round with that reason instead of sending a huge value. The encoded input stays in
    # native memory (zeroized), never a numpy array.
    reply, report = session.handle_with_update(message, encoder, update, weight)
    if report["clipped"]:
        log(WARNING, "secagg.flower: update clipped (%s coordinates, norm %.4g)",
            report["coordinates_clipped"], report["norm"])
    # The update leaves only masked: the plain arrays are dropped from the reply.
    for record in content.array_records.values():
        record.clear()
    return reply, content


def secagg_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """The SecAgg mod: the same as :func:`secaggplus_mod` (the server picks the graph)."""
    return secaggplus_mod(msg, ctxt, call_next)
