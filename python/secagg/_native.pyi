"""Type stubs of the native module (PyO3)."""

import os
from typing import Any, Literal, Optional, Union, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "SecAggError",
    "ConfigError",
    "AbortError",
    "MisbehaviorError",
    "EncodingError",
    "StateError",
    "ApiMisuseError",
    "Params",
    "StateKey",
    "IdentityKey",
    "Pki",
    "ClientSession",
    "ServerSession",
    "Output",
    "EncoderConfig",
    "Encoder",
    "rotation_seed",
    "find_params",
    "WIRE_VERSION",
]

WIRE_VERSION: int

_ThreatModel = Literal["honest_but_curious", "malicious"]

class SecAggError(Exception):
    kind: str

class ConfigError(SecAggError): ...
class AbortError(SecAggError): ...

class MisbehaviorError(SecAggError):
    round: Optional[str]
    by: Optional[str]
    client: Optional[int]

class EncodingError(SecAggError):
    smallest_bits: Optional[int]
    index: Optional[int]

class StateError(SecAggError): ...
class ApiMisuseError(SecAggError): ...

@final
class Params:
    def __new__(
        cls,
        session: bytes,
        clients: int,
        modulus: int,
        vector_len: int,
        *,
        neighbours: Optional[int] = None,
        threshold: Optional[int] = None,
        threat_model: _ThreatModel = "honest_but_curious",
        mask_suite: Literal["chacha20", "aes128ctr"] = "chacha20",
        min_roster: Optional[int] = None,
        require_majority: bool = False,
    ) -> Params: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> Params: ...
    @staticmethod
    def from_bytes_expecting(
        data: bytes,
        *,
        session: bytes,
        threat_model: _ThreatModel,
        min_threshold: int,
        min_neighbours: int,
        max_clients: int,
        max_vector_len: int,
        require_majority: bool = False,
    ) -> Params: ...
    @property
    def session(self) -> bytes: ...
    @property
    def clients(self) -> int: ...
    @property
    def threshold(self) -> int: ...
    @property
    def modulus(self) -> int: ...
    @property
    def vector_len(self) -> int: ...
    @property
    def neighbours(self) -> Optional[int]: ...
    @property
    def share_holders(self) -> int: ...
    @property
    def threat_model(self) -> str: ...
    @property
    def mask_suite(self) -> str: ...
    @property
    def min_roster(self) -> int: ...

@final
class StateKey:
    def __new__(cls, key: bytes) -> StateKey: ...
    @staticmethod
    def generate() -> StateKey: ...

@final
class IdentityKey:
    @staticmethod
    def from_seed(seed: bytes) -> IdentityKey: ...
    @staticmethod
    def from_file(path: Union[str, os.PathLike[str]]) -> IdentityKey: ...
    @staticmethod
    def generate() -> IdentityKey: ...
    def to_seed(self) -> bytes: ...
    def public_key(self) -> bytes: ...

@final
class Pki:
    def __new__(cls, keys: dict[int, bytes]) -> Pki: ...
    def __len__(self) -> int: ...

@final
class ClientSession:
    @staticmethod
    def start(
        params: Params,
        id: int,
        *,
        identity_key: Optional[IdentityKey] = None,
        pki: Optional[Pki] = None,
    ) -> tuple[ClientSession, bytes]: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def stage(self) -> int: ...
    @property
    def round(self) -> str: ...
    @property
    def alive(self) -> bool: ...
    def handle(self, message: bytes) -> bytes: ...
    def handle_with_input(self, message: bytes, input: npt.NDArray[np.uint64]) -> bytes: ...
    def handle_with_update(
        self,
        message: bytes,
        encoder: Encoder,
        update: npt.NDArray[Union[np.float32, np.float64]],
        weight: Optional[int] = None,
    ) -> tuple[bytes, dict[str, Any]]: ...
    def seal(self, key: StateKey) -> bytes: ...
    @staticmethod
    def open(
        data: bytes,
        key: StateKey,
        params: Params,
        id: int,
        *,
        newest_stage: int = 0,
        identity_key: Optional[IdentityKey] = None,
        pki: Optional[Pki] = None,
    ) -> ClientSession: ...

@final
class Output:
    @property
    def sum(self) -> npt.NDArray[np.uint64]: ...
    @property
    def included(self) -> list[int]: ...
    @property
    def mask_expansions(self) -> int: ...

@final
class ServerSession:
    def __new__(cls, params: Params, pki: Optional[Pki] = None) -> ServerSession: ...
    @property
    def round(self) -> str: ...
    @property
    def alive(self) -> bool: ...
    def receive(self, sender: int, message: bytes) -> None: ...
    def close(self) -> Union[list[tuple[list[int], bytes]], Output]: ...
    def seal(self, key: StateKey) -> bytes: ...
    @staticmethod
    def open(data: bytes, key: StateKey, params: Params, pki: Optional[Pki] = None) -> ServerSession: ...

@final
class EncoderConfig:
    def __new__(
        cls,
        dim: int,
        scale: float,
        *,
        l2_clip: Optional[float] = None,
        coordinate_clip: Optional[float] = None,
        rotation_seed: Optional[bytes] = None,
        max_weight: Optional[int] = None,
        weight_unit: Optional[int] = None,
        conditional_rounding: float = 0.0,
        wrap_probability: Optional[float] = None,
        noise: Optional[Literal["discrete_gaussian", "skellam"]] = None,
        noise_multiplier: float = 0.0,
        min_contributors: int = 0,
    ) -> EncoderConfig: ...
    @property
    def vector_len(self) -> int: ...
    @property
    def dim(self) -> int: ...
    def requirement(self, max_contributors: int) -> dict[str, int]: ...
    def check(self, modulus: int, max_contributors: int) -> Encoder: ...

@final
class Encoder:
    def encode(
        self, update: npt.NDArray[Union[np.float32, np.float64]], weight: Optional[int] = None
    ) -> tuple[npt.NDArray[np.uint64], dict[str, Any]]: ...
    def decode(self, sum: npt.NDArray[np.uint64], contributors: int) -> npt.NDArray[np.float64]: ...
    def check_params(self, params: Params) -> None: ...
    def privacy(self, rounds: int, delta: float) -> dict[str, float]: ...
    @property
    def modulus(self) -> int: ...
    @property
    def vector_len(self) -> int: ...
    @property
    def budget(self) -> dict[str, Any]: ...

def rotation_seed(session: bytes) -> bytes: ...
def find_params(
    clients: int,
    dropout: float,
    corrupt: float,
    *,
    threat_model: _ThreatModel = "honest_but_curious",
    sigma: Optional[int] = None,
    eta: Optional[int] = None,
    require_majority: bool = False,
) -> dict[str, Any]: ...
