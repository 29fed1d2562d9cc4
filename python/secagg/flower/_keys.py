"""Where a SuperNode's state-sealing key comes from.

The client's protocol state (its X25519 secrets, self-mask seed, received shares) travels
in the Flower ``Context`` only as bytes sealed with XChaCha20-Poly1305 under a key that
never enters the context. The key is looked up, in order:

1. ``SECAGG_STATE_KEY``: 64 hex characters in the SuperNode's environment;
2. the node config entry ``secagg-state-key-file`` (``flower-supernode --node-config
   'secagg-state-key-file="/path/key"'``: Flower parses the values as TOML, so a path is
   quoted), or else ``SECAGG_STATE_KEY_FILE`` in the
   environment: a file holding 32 raw bytes or 64 hex characters;
3. without either, ``$FLWR_HOME/secagg-state.key`` (``~/.flwr/secagg-state.key`` when
   ``FLWR_HOME`` is unset): created on first use with 32 random bytes, mode 0600, by an
   exclusive create, so every ``flwr-clientapp`` process of that SuperNode (and every
   virtual node of a simulation on that machine) finds the same key.

A key file that cannot be read or created raises :class:`secagg.ConfigError`; no state is
ever stored unsealed. Anyone who can read the key and the context together can open the
state: protect the key file as you protect the node's credentials.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .._native import ConfigError, StateKey
from ._common import error

NODE_CONFIG_KEY_FILE = "secagg-state-key-file"
ENV_KEY = "SECAGG_STATE_KEY"
ENV_KEY_FILE = "SECAGG_STATE_KEY_FILE"

_cache: dict[str, StateKey] = {}
_resolved: dict[tuple, str] = {}


def _parse(raw: bytes, where: str) -> bytes:
    text = raw.strip()
    if len(raw) == 32:
        return raw
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise error(ConfigError, "StateKey", f"{where}: a state key is 32 bytes or 64 hex characters")
    return key


def default_key_file() -> Path:
    home = os.environ.get("FLWR_HOME")
    base = Path(home) if home else Path.home() / ".flwr"
    return base / "secagg-state.key"


def _load_or_create(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, os.urandom(32))
    finally:
        os.close(fd)
    try:
        # Exclusive: if another process created the key first, theirs is the key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


def state_key(node_config: Optional[dict] = None) -> StateKey:
    """The sealing key of this SuperNode (see the module docs for the lookup order)."""
    env = os.environ.get(ENV_KEY)
    if env:
        return StateKey(_parse(env.encode(), ENV_KEY))
    configured = (node_config or {}).get(NODE_CONFIG_KEY_FILE) or os.environ.get(ENV_KEY_FILE)
    # The lookup runs on every message: the resolved path is cached under what decides it
    # (no home-directory or path lookup on a hit), the key under the path.
    where = (str(configured) if configured else None, os.environ.get("FLWR_HOME"), os.environ.get("HOME"))
    resolved = _resolved.get(where)
    if resolved is not None and resolved in _cache:
        return _cache[resolved]
    path = Path(str(configured)) if configured else default_key_file()
    _resolved[where] = str(path)
    cached = _cache.get(str(path))
    if cached is not None:
        return cached
    try:
        raw = path.read_bytes() if configured else _load_or_create(path)
    except OSError as e:
        raise error(
            ConfigError, "StateKeyFile", f"cannot read or create the state key file {path}: {e.strerror}"
        ) from None
    key = StateKey(_parse(raw, str(path)))
    _cache[str(path)] = key
    return key
