"""The drop-in's malicious-server mode on the in-process deployment harness: identities from
a public-key directory every node holds, signed messages, the ConsistencyCheck stage, and the
refusals (a node outside the directory, a key substituted in the server's directory, a node
without a directory, a server that asks a directory node for the honest-but-curious mode)."""

import json
import os

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")

import secagg  # noqa: E402
from secagg.flower import (  # noqa: E402
    Directory,
    SecAggPlusWorkflow,
    generate_identity,
    roster_session,
    secaggplus_mod,
)
from secagg.flower.testing import InProcessGrid  # noqa: E402
from flower_app import run  # noqa: E402
from test_flower import check_fedavg  # noqa: E402

N = 10
# Stages of a malicious-mode round in InProcessGrid's count.
HELLO, SETUP, SHARE_KEYS, MASKED, CONSISTENCY, UNMASK = range(6)


@pytest.fixture(autouse=True)
def state_key_file(tmp_path, monkeypatch):
    for var in ("SECAGG_STATE_KEY", "SECAGG_DIRECTORY_FILE", "SECAGG_IDENTITY_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SECAGG_STATE_KEY_FILE", str(tmp_path / "state.key"))
    (tmp_path / "state.key").write_bytes(os.urandom(32))
    from secagg.flower import _keys
    _keys._cache.clear()


def provision(tmp_path, n=N):
    """Node i gets the key file node-i.key; the directory names them all."""
    keys = {}
    for i in range(n):
        keys[f"node-{i}"] = generate_identity(tmp_path / f"node-{i}.key")
    path = tmp_path / "directory.json"
    path.write_text(Directory(keys).to_json())
    return path, keys


def node_config(tmp_path, directory, overrides=None):
    overrides = overrides or {}

    def config(i):
        cfg = {"secagg-directory-file": str(directory), "secagg-identity-key-file": str(tmp_path / f"node-{i}.key")}
        cfg.update(overrides.get(i, {}))
        return cfg

    return config


def order(n=N):
    return InProcessGrid(lambda m, c: None, n, seed=0).node_ids


def workflow(directory, **kw):
    return SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=3, threat_model="malicious",
                              directory=directory, **kw)


def test_malicious_round_completes_with_the_fedavg(tmp_path):
    directory, _ = provision(tmp_path)
    wf = workflow(directory)
    grid, result, _ = run(wf, N, secaggplus_mod, node_config=node_config(tmp_path, directory))
    r = wf.last_round
    assert r.halted is None, r.halted
    assert r.threat_model == "malicious" and r.params.threat_model == "malicious"
    # Roster in client-id (node-id) order, each node under its own name.
    assert r.roster == [f"node-{grid.partition[nid]}" for nid in grid.node_ids]
    # 7 holders: the threshold is raised to more than two thirds of them.
    assert r.neighbours == 6 and r.threshold == 5
    assert r.included == grid.node_ids
    # hello, setup, share keys, masked input, consistency check, unmask.
    assert grid.stage == 6
    assert not grid.errors
    check_fedavg(grid, result, wf)
    # No identity key in any node's stored context, raw or hex; only public values beside
    # the sealed state.
    for nid in grid.node_ids:
        seed_hex = (tmp_path / f"node-{grid.partition[nid]}.key").read_text().strip()
        blob = grid.contexts[nid]
        assert bytes.fromhex(seed_hex) not in blob and seed_hex.encode() not in blob
        record = grid.context(nid).state.config_records["secagg_rs_state"]
        assert record["roster"] == r.roster and len(record["nonce"]) == 32
        assert set(record) <= {"sealed", "stage", "params", "id", "dim", "scale", "clipping_range",
                               "max_weight", "weight_unit", "roster", "nonce"}


def test_dropout_during_consistency_check(tmp_path):
    directory, _ = provision(tmp_path)
    ids = order()
    gone = ids[4]
    wf = workflow(directory)
    grid, result, _ = run(wf, N, secaggplus_mod, node_config=node_config(tmp_path, directory),
                          drop=lambda stage, nid: stage == CONSISTENCY and nid == gone)
    r = wf.last_round
    assert r.halted is None, r.halted
    assert gone in grid.dead
    # Its masked input arrived before it vanished: it is in the sum, its self-mask removed
    # with the shares the others reveal.
    assert gone in r.included and len(r.included) == N
    check_fedavg(grid, result, wf)


def test_node_outside_the_directory_is_refused_and_the_others_aggregate(tmp_path):
    directory, _ = provision(tmp_path)
    ids = order()
    outsider = 2
    (tmp_path / "outsider.key").unlink(missing_ok=True)
    generate_identity(tmp_path / "outsider.key")
    cfg = node_config(tmp_path, directory, {outsider: {"secagg-identity-key-file": str(tmp_path / "outsider.key")}})
    wf = workflow(directory)
    grid, result, _ = run(wf, N, secaggplus_mod, node_config=cfg)
    r = wf.last_round
    assert r.halted is None, r.halted
    assert ids[outsider] not in r.included and len(r.included) == N - 1
    assert "node-2" not in r.roster
    assert any("not in its directory" in f for f in r.failures), r.failures
    check_fedavg(grid, result, wf)


def test_key_substituted_in_the_servers_directory_aborts_the_round(tmp_path):
    """The server swaps node-3's key for one it holds and runs node 3 itself: every honest
    node computes another session id from its own directory and refuses the setup."""
    directory, keys = provision(tmp_path)
    attacker_key = generate_identity(tmp_path / "attacker.key")
    forged = tmp_path / "forged.json"
    forged.write_text(Directory({**keys, "node-3": attacker_key}).to_json())
    cfg = node_config(tmp_path, directory, {3: {"secagg-directory-file": str(forged),
                                                "secagg-identity-key-file": str(tmp_path / "attacker.key")}})
    wf = workflow(forged)
    grid, result, _ = run(wf, N, secaggplus_mod, node_config=cfg)
    r = wf.last_round
    assert r.halted is not None and r.halted.startswith("TooFewSurvivors"), r.halted
    refusals = [f for f in r.failures if "expectations: session" in f]
    assert len(refusals) == N - 1, r.failures
    # The model is unchanged.
    assert all(np.all(a == 0) for a in result)


def test_node_without_a_directory_refuses_the_malicious_mode(tmp_path):
    directory, _ = provision(tmp_path)
    wf = workflow(directory)
    grid, result, _ = run(wf, 4, secaggplus_mod)
    assert len(grid.errors) == 4 and all("NoDirectory" in e or "directory" in e for e in grid.errors)
    assert wf.last_round.included == []
    assert all(np.all(a == 0) for a in result)


def test_directory_node_refuses_the_honest_but_curious_mode(tmp_path):
    directory, _ = provision(tmp_path, 4)
    wf = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)
    grid, result, _ = run(wf, 4, secaggplus_mod, node_config=node_config(tmp_path, directory))
    assert len(grid.errors) == 4 and all("only malicious-server sessions" in e for e in grid.errors)
    assert wf.last_round.halted is not None
    assert all(np.all(a == 0) for a in result)


def test_malicious_mode_needs_a_directory():
    with pytest.raises(ValueError, match="directory"):
        SecAggPlusWorkflow(5, 3, threat_model="malicious")
    with pytest.raises(ValueError):
        SecAggPlusWorkflow(5, 3, threat_model="byzantine")


def test_identity_key_files(tmp_path):
    pub = generate_identity(tmp_path / "a.key")
    key = secagg.IdentityKey.from_file(tmp_path / "a.key")
    assert key.public_key() == pub and "redacted" in repr(key)
    # Raw 32 bytes work too, and give the same key as their hex.
    (tmp_path / "raw.key").write_bytes(key.to_seed())
    assert secagg.IdentityKey.from_file(str(tmp_path / "raw.key")).public_key() == pub
    with pytest.raises(FileExistsError):
        generate_identity(tmp_path / "a.key")
    for name, content in [("short.key", b"ab" * 10), ("long.key", b"0" * 5000), ("nothex.key", b"zz" * 32)]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(secagg.ConfigError) as e:
            secagg.IdentityKey.from_file(tmp_path / name)
        assert e.value.kind == "IdentityKeyFile" and name in str(e.value)
        # SECURITY: the message names the file, never its contents.
        assert "ab" * 10 not in str(e.value) and "zz" not in str(e.value)
    with pytest.raises(secagg.ConfigError) as e:
        secagg.IdentityKey.from_file(tmp_path / "missing.key")
    assert e.value.kind == "IdentityKeyFile"


def test_directory_files_and_roster_commitment(tmp_path):
    keys = {f"n{i}": secagg.IdentityKey.generate().public_key() for i in range(3)}
    d = Directory(keys)
    assert len(d) == 3 and "n1" in d and d.name_of(keys["n2"]) == "n2"
    path = tmp_path / "d.json"
    path.write_text(d.to_json())
    assert Directory.load(path).key("n0") == keys["n0"]
    for bad in ['{"format": "other", "identities": {}}', "not json", '{"format": "secagg-directory-v1"}',
                json.dumps({"format": "secagg-directory-v1", "identities": {"a b": "00" * 32}})]:
        path.write_text(bad)
        with pytest.raises(secagg.ConfigError) as e:
            Directory.load(path)
        assert e.value.kind == "Directory"
    with pytest.raises(secagg.ConfigError) as e:
        Directory({"a": keys["n0"], "b": keys["n0"]})
    assert e.value.kind == "Directory"
    with pytest.raises(secagg.ConfigError) as e:
        Directory({"a": b"\x01" * 31})
    assert e.value.kind == "VerifyingKey"
    with pytest.raises(secagg.ConfigError) as e:
        d.check_roster(["n0", "n0"])
    assert e.value.kind == "Roster"
    with pytest.raises(secagg.ConfigError):
        d.check_roster(["n0", "stranger"])
    nonce = os.urandom(32)
    s = roster_session(nonce, ["n0", "n1"], d)
    assert len(s) == 32 and s == roster_session(nonce, ["n0", "n1"], d)
    # Order, membership, nonce and every key are committed to.
    assert s != roster_session(nonce, ["n1", "n0"], d)
    assert s != roster_session(nonce, ["n0", "n2"], d)
    assert s != roster_session(os.urandom(32), ["n0", "n1"], d)
    swapped = Directory({**keys, "n1": secagg.IdentityKey.generate().public_key()})
    assert s != roster_session(nonce, ["n0", "n1"], swapped)
    pki = d.pki(["n2", "n0"])
    assert len(pki) == 2


def test_node_signing_with_a_key_not_its_own_is_rejected_by_signature(tmp_path, monkeypatch):
    """A node that claims node-3's identity but signs with another key (a modified client:
    its hello and its session checks pass, its signatures cannot): the server, which
    verifies every AdvertiseKeys against the directory, rejects it with
    MisbehaviorError(kind="BadSignature") and the round goes on without it."""
    import secagg.flower._mod as mod

    directory, _ = provision(tmp_path)
    ids = order()
    generate_identity(tmp_path / "impostor.key")
    real = mod.node_identity

    def node_identity(node_config, d):
        if node_config.get("impostor"):
            return secagg.IdentityKey.from_file(tmp_path / "impostor.key"), "node-3"
        return real(node_config, d)

    monkeypatch.setattr(mod, "node_identity", node_identity)
    rejected = []
    cfg = node_config(tmp_path, directory, {3: {"impostor": True}})
    wf = workflow(directory)
    import secagg.flower._workflow as wfmod

    class Recording:
        def __init__(self, params, pki=None):
            self._s = secagg.ServerSession(params, pki)

        def receive(self, sender, message):
            try:
                self._s.receive(sender, message)
            except secagg.MisbehaviorError as e:
                rejected.append((sender, e.kind, e.round))
                raise

        def __getattr__(self, name):
            return getattr(self._s, name)

    monkeypatch.setattr(wfmod, "ServerSession", Recording)
    grid, result, _ = run(wf, N, secaggplus_mod, node_config=cfg)
    r = wf.last_round
    assert r.halted is None, r.halted
    cid = grid.node_ids.index(ids[3]) + 1
    assert rejected == [(cid, "BadSignature", "AdvertiseKeys")], rejected
    assert ids[3] not in r.included and len(r.included) == N - 1
    check_fedavg(grid, result, wf)
