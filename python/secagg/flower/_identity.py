"""Identities for the malicious-server mode: the public-key directory and each SuperNode's
signing key.

Against a malicious server, each client signs its protocol messages with a long-term Ed25519
identity key, and verifies its peers' signatures against a **directory** that the server
does not control: a JSON file mapping an identity name (an operator's label for a SuperNode,
such as ``"hospital-a"``) to that node's Ed25519 verifying key, provisioned out of band (by
the federation's operator, signed off by every participant) to every SuperNode and to the
ServerApp::

    {"format": "secagg-directory-v1",
     "identities": {"hospital-a": "<64 hex characters>", "hospital-b": "..."}}

``generate_identity(key_path)`` writes a new signing key (mode 0600) and returns its
verifying key for the directory.

On a SuperNode, the node config names both files (never the run config: the ServerApp's
side writes that)::

    flower-supernode ... --node-config \
        'secagg-directory-file="/etc/secagg/directory.json" secagg-identity-key-file="/etc/secagg/node.key"'

(Flower parses node config values as TOML: the paths are quoted strings)
(or ``SECAGG_DIRECTORY_FILE`` / ``SECAGG_IDENTITY_KEY_FILE`` in its environment). A node with
a directory configured runs only malicious-server sessions: it refuses the honest-but-curious
mode, so a server cannot switch signatures off. A node without a directory refuses the
malicious mode (``ConfigError(kind="NoDirectory")``).

The signing key is read by the native module into memory it zeroizes; the seed never becomes
a Python object. The directory is public.

What it protects: a server that controls the SuperLink (and the run config) cannot add
clients of its own to a session (Sybils), impersonate a client, or show different clients
different rosters: every message a client accepts is signed by a key of its directory, and
the session id commits to the roster (names and keys) that every client checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional, Union

from .._native import ConfigError, IdentityKey, Pki
from ._common import error

DIRECTORY_FORMAT = "secagg-directory-v1"
NODE_CONFIG_DIRECTORY = "secagg-directory-file"
NODE_CONFIG_IDENTITY_KEY = "secagg-identity-key-file"
ENV_DIRECTORY = "SECAGG_DIRECTORY_FILE"
ENV_IDENTITY_KEY = "SECAGG_IDENTITY_KEY_FILE"
# Domain separation of the roster commitment (the session id of a malicious-mode round).
ROSTER_LABEL = b"secagg/flower/v1/roster"
# Bounds on a directory: what a file may hold before it is parsed.
MAX_DIRECTORY_BYTES = 16 * 1024 * 1024
MAX_IDENTITIES = 1 << 16
_NAME = re.compile(r"[A-Za-z0-9._:@-]{1,128}\Z")

PathLike = Union[str, "os.PathLike[str]"]


class Directory:
    """Identity name -> Ed25519 verifying key (32 bytes): public, provisioned out of band."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if len(keys) > MAX_IDENTITIES:
            raise error(ConfigError, "Directory", f"a directory holds at most {MAX_IDENTITIES} identities")
        seen: dict[bytes, str] = {}
        for name, key in keys.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise error(ConfigError, "Directory", f"identity name {name!r}: 1 to 128 of A-Z a-z 0-9 . _ : @ -")
            key = bytes(key)
            # Pki checks that the key is a valid Ed25519 point (ConfigError kind VerifyingKey).
            Pki({1: key})
            if key in seen:
                raise error(ConfigError, "Directory", f"identities {seen[key]!r} and {name!r} share one key")
            seen[key] = name
        self._keys = {name: bytes(key) for name, key in keys.items()}
        self._names = {key: name for name, key in self._keys.items()}

    @classmethod
    def load(cls, path: PathLike) -> "Directory":
        """Reads a directory file (``ConfigError(kind="Directory")`` if it is not one)."""
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_DIRECTORY_BYTES + 1)
        except OSError as e:
            raise error(ConfigError, "Directory", f"cannot read the directory {path}: {e.strerror}") from None
        if len(raw) > MAX_DIRECTORY_BYTES:
            raise error(ConfigError, "Directory", f"directory {path}: larger than {MAX_DIRECTORY_BYTES} bytes")
        try:
            doc = json.loads(raw)
            if doc.get("format") != DIRECTORY_FORMAT:
                raise ValueError("format")
            keys = {name: bytes.fromhex(hexkey) for name, hexkey in doc["identities"].items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            raise error(ConfigError, "Directory",
                        f"directory {path}: not a {DIRECTORY_FORMAT} file of names and hex keys") from None
        return cls(keys)

    def to_json(self) -> str:
        return json.dumps({"format": DIRECTORY_FORMAT,
                           "identities": {n: k.hex() for n, k in sorted(self._keys.items())}}, indent=1)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __repr__(self) -> str:
        return f"Directory({len(self._keys)} identities)"

    def key(self, name: str) -> bytes:
        return self._keys[name]

    def name_of(self, public_key: bytes) -> Optional[str]:
        """The identity whose verifying key this is, if any."""
        return self._names.get(bytes(public_key))

    def pki(self, roster: Sequence[str]) -> Pki:
        """The session's PKI: client id ``i + 1`` is ``roster[i]``."""
        return Pki({i + 1: self._keys[name] for i, name in enumerate(roster)})

    def check_roster(self, roster: Sequence[str]) -> None:
        """Every name in the directory, none twice (``ConfigError(kind="Roster")``)."""
        if len(set(roster)) != len(roster):
            raise error(ConfigError, "Roster", "secagg.flower: a name appears twice in the roster")
        unknown = [name for name in roster if name not in self._keys]
        if unknown:
            raise error(ConfigError, "Roster", f"secagg.flower: {len(unknown)} roster names are not in the directory")


def roster_session(nonce: bytes, roster: Sequence[str], directory: Directory) -> bytes:
    """The session id of a malicious-mode round: SHA-256 over the server's fresh nonce and
    the roster in client-id order, each name with its key from the directory. A client
    accepts only parameters whose session is the one it computes from its own directory, so
    two clients in one session have the same roster, and a key substituted in the server's
    directory yields another session."""
    if len(nonce) != 32:
        raise error(ConfigError, "Roster", "secagg.flower: the roster nonce is 32 bytes")
    h = hashlib.sha256(ROSTER_LABEL)
    h.update(nonce)
    h.update(struct.pack(">I", len(roster)))
    for name in roster:
        encoded = name.encode()
        h.update(struct.pack(">H", len(encoded)))
        h.update(encoded)
        h.update(directory.key(name))
    return h.digest()


def generate_identity(key_path: PathLike) -> bytes:
    """Writes a new identity signing key to ``key_path`` (64 hex characters, mode 0600,
    refusing to overwrite a file) and returns its verifying key for the directory."""
    key = IdentityKey.generate()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key.to_seed().hex().encode() + b"\n")
    finally:
        os.close(fd)
    return key.public_key()


_directories: dict[tuple[str, int, int], Directory] = {}


def _configured(node_config: Mapping, entry: str, env: str) -> Optional[str]:
    value = node_config.get(entry) or os.environ.get(env)
    return str(value) if value else None


def node_directory(node_config: Mapping) -> Optional[Directory]:
    """This SuperNode's directory (node config, else environment), or ``None``."""
    path = _configured(node_config, NODE_CONFIG_DIRECTORY, ENV_DIRECTORY)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError as e:
        raise error(ConfigError, "Directory", f"cannot read the directory {path}: {e.strerror}") from None
    cache_key = (path, st.st_mtime_ns, st.st_size)
    found = _directories.get(cache_key)
    if found is None:
        found = _directories[cache_key] = Directory.load(path)
    return found


def node_identity(node_config: Mapping, directory: Directory) -> tuple[IdentityKey, str]:
    """This SuperNode's signing key and its name in ``directory``."""
    path = _configured(node_config, NODE_CONFIG_IDENTITY_KEY, ENV_IDENTITY_KEY)
    if path is None:
        raise error(ConfigError, "NoIdentityKey",
                    f"secagg.flower: a directory is configured but no identity key "
                    f"('{NODE_CONFIG_IDENTITY_KEY}' in the node config or {ENV_IDENTITY_KEY})")
    key = IdentityKey.from_file(Path(path))
    name = directory.name_of(key.public_key())
    if name is None:
        raise error(ConfigError, "NotInDirectory",
                    "secagg.flower: this node's identity key is not in its directory")
    return key, name
