"""What the server workflow and the client mod share: record names, stages, the encoding."""

from __future__ import annotations

import math

from .._native import EncoderConfig

# Our own record names: a ClientApp with Flower's mod (which reads "secaggplus_configs")
# and our workflow, or the reverse, fail with a clear error instead of half-working.
RECORD = "secagg_rs"
STATE_RECORD = "secagg_rs_state"
FLOWER_RECORD = "secaggplus_configs"
# 2: the setup names the weight unit (1 without noise: the total weight is exact and the
# modulus need not make room for a weight element as wide as the update).
PROTOCOL_VERSION = 2

# One Flower message per protocol message; the stage names follow Flower's.
STAGE_BY_ROUND = {
    "ShareKeys": "share_keys",
    "MaskedInput": "collect_masked_vectors",
    "Consistency": "consistency_check",
    "Unmasking": "unmask",
}


def scale(clipping_range: float, quantization_range: int) -> float:
    """Flower's quantization step: ``[-c, c]`` onto ``quantization_range`` levels."""
    return (quantization_range - 1) / (2.0 * clipping_range)


def max_weight_units(max_weight: float) -> int:
    """Our weights are integers: the declared maximum, rounded up."""
    return max(1, math.ceil(max_weight))


def encoder_config(setup: dict) -> EncoderConfig:
    """The encoding both sides derive from the setup values (public)."""
    kwargs = {}
    if setup.get("l2_clip"):
        kwargs["l2_clip"] = float(setup["l2_clip"])
    if setup.get("noise"):
        kwargs.update(
            noise=str(setup["noise"]),
            noise_multiplier=float(setup["noise_multiplier"]),
            min_contributors=int(setup["min_contributors"]),
        )
    if setup.get("weight_unit"):
        kwargs["weight_unit"] = int(setup["weight_unit"])
    return EncoderConfig(
        int(setup["dim"]),
        float(setup["scale"]),
        coordinate_clip=float(setup["clipping_range"]),
        max_weight=int(setup["max_weight"]),
        **kwargs,
    )


def error(cls: type, kind: str, message: str) -> Exception:
    """A secagg exception raised from Python, with its ``kind`` like the native ones."""
    e = cls(message)
    e.kind = kind
    return e
