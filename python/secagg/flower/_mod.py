"""The client side: ``secaggplus_mod`` / ``secagg_mod``, Flower ``Mod``s.

Each TRAIN message of a secure-aggregation round carries one protocol message of ours under
the config record ``secagg_rs`` (bytes, ``docs/WIRE.md``); the reply carries the client's.
Between messages the client's session lives in ``context.state`` only sealed
(``secagg_rs_state``: the sealed bytes, the stage, and the public setup values); the
sealing key never enters the context (:mod:`secagg.flower._keys`).
"""

from __future__ import annotations

from logging import WARNING
from typing import cast

import numpy as np

import flwr.compat.common.recorddict_compat as compat
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import parameters_to_ndarrays
from flwr.supercore import log

from .._native import ApiMisuseError, ClientSession, ConfigError, Params
from ._common import FLOWER_RECORD, PROTOCOL_VERSION, RECORD, STATE_RECORD, encoder_config, error
from ._keys import state_key

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
    key = state_key(dict(ctxt.node_config))
    out_content = RecordDict()

    if stage == "setup":
        if int(cast(int, cfg.get("version", 0))) != PROTOCOL_VERSION:
            raise error(ConfigError, "Version", "secagg.flower: the server speaks another protocol version")
        params = Params.from_bytes(cast(bytes, cfg["params"]))
        client_id = int(cast(int, cfg["id"]))
        setup = {k: cfg[k] for k in _SETUP_KEYS if k in cfg}
        session, reply = ClientSession.start(params, client_id)
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
        session = ClientSession.open(cast(bytes, st["sealed"]), key, params, client_id, newest_stage=newest)
        message = cast(bytes, cfg["msg"])
        if session.needs_input:
            reply, out_content = _train_and_mask(msg, ctxt, call_next, session, params, setup, message)
        else:
            reply = session.handle(message)

    # Store the new state (sealed) before the reply leaves.
    record = {"sealed": session.seal(key), "stage": session.stage, "params": params.to_bytes(),
              "id": client_id}
    record.update(setup)
    ctxt.state.config_records[STATE_RECORD] = ConfigRecord(record)
    out_content.config_records[RECORD] = ConfigRecord({"stage": stage, "msg": reply})
    return Message(out_content, reply_to=msg)


def _train_and_mask(msg, ctxt, call_next, session, params, setup, message) -> tuple[bytes, RecordDict]:
    """Local training (the next layer of the app), then the masked, encoded update."""
    out_msg = call_next(msg, ctxt)
    if out_msg.has_error():
        raise error(ApiMisuseError, "TrainingFailed", f"secagg.flower: local training failed: {out_msg.error.reason}")
    content = out_msg.content
    fitres = compat.recorddict_to_fitres(content, keep_input=True)
    update = _flatten(parameters_to_ndarrays(fitres.parameters))
    max_weight = int(setup["max_weight"])
    weight = int(fitres.num_examples)
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
