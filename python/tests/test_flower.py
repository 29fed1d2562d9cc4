import os

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")

import secagg  # noqa: E402
from secagg.flower import SecAggPlusWorkflow, SecAggWorkflow, secagg_mod, secaggplus_mod  # noqa: E402
from secagg.flower._common import STATE_RECORD  # noqa: E402
from flower_app import fedavg, run  # noqa: E402


@pytest.fixture(autouse=True)
def state_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SECAGG_STATE_KEY", raising=False)
    monkeypatch.setenv("SECAGG_STATE_KEY_FILE", str(tmp_path / "state.key"))
    (tmp_path / "state.key").write_bytes(os.urandom(32))
    from secagg.flower import _keys
    _keys._cache.clear()


def step(wf) -> float:
    return 2 * wf.clipping_range / (wf.quantization_range - 1)


def check_fedavg(grid, result, wf):
    from flower_app import client_update
    included = wf.last_round.included
    want = fedavg(grid, included)
    # Each client encodes (w / max_weight) * update at the quantization step, as Flower
    # does: the weighted mean is off by at most n * step * max_weight / sum(w), plus float32.
    weights = [client_update(grid.partition[nid])[1] for nid in included]
    bound = len(weights) * step(wf) * wf.max_weight / sum(weights)
    for got, w in zip(result, want):
        assert np.max(np.abs(got.astype(np.float64) - w)) <= bound + 1e-6


def test_five_clients_no_dropout():
    wf = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)
    grid, result, _ = run(wf, 5, secaggplus_mod)
    assert wf.last_round.halted is None
    assert len(wf.last_round.included) == 5
    assert wf.last_round.neighbours == 2
    check_fedavg(grid, result, wf)
    assert result[0].dtype == np.float32 and result[0].shape == (3, 4)


@pytest.mark.parametrize("num_shares", [4, 5, 6, 7])
def test_odd_and_even_num_shares_with_dropouts(num_shares):
    dropped = {}

    def drop(stage, nid):
        # Two clients vanish: one before the key shares, one before its masked input.
        order = sorted(grid_ids)
        return (stage == 1 and nid == order[3]) or (stage == 2 and nid == order[11])

    from secagg.flower.testing import InProcessGrid  # noqa: F401
    global grid_ids
    grid_ids = InProcessGrid(lambda m, c: None, 20, seed=0).node_ids
    wf = SecAggPlusWorkflow(num_shares=num_shares, reconstruction_threshold=3)
    grid, result, _ = run(wf, 20, secaggplus_mod, drop=drop)
    assert wf.last_round.halted is None, wf.last_round.halted
    assert wf.last_round.neighbours % 2 == 0
    assert len(wf.last_round.included) == 18
    assert set(wf.last_round.included) == set(grid.node_ids) - {grid_ids[3], grid_ids[11]}
    check_fedavg(grid, result, wf)


def test_dropouts_at_every_stage_20_clients():
    ids = {}

    def drop(stage, nid):
        order = ids["order"]
        return nid in {0: (order[0],), 1: (order[1],), 2: (order[2],), 3: (order[3],)}.get(stage, ())

    from secagg.flower.testing import InProcessGrid
    ids["order"] = InProcessGrid(lambda m, c: None, 20, seed=0).node_ids
    wf = SecAggPlusWorkflow(num_shares=0.5, reconstruction_threshold=0.6)
    grid, result, _ = run(wf, 20, secaggplus_mod, drop=drop)
    assert wf.last_round.halted is None, wf.last_round.halted
    # Dropped before the masked input: out; dropped in unmasking: their input is in.
    assert set(wf.last_round.included) == set(ids["order"][3:])
    check_fedavg(grid, result, wf)


def test_hundred_clients_ten_percent_dropout():
    from secagg.flower.testing import InProcessGrid
    order = InProcessGrid(lambda m, c: None, 100, seed=0).node_ids
    gone = {1: set(order[0:5]), 2: set(order[5:10])}

    def drop(stage, nid):
        return nid in gone.get(stage, ())

    wf = SecAggPlusWorkflow(num_shares=0.2, reconstruction_threshold=0.6)
    grid, result, _ = run(wf, 100, secaggplus_mod, drop=drop)
    assert wf.last_round.halted is None, wf.last_round.halted
    assert wf.last_round.neighbours is not None
    assert set(wf.last_round.included) == set(order[10:])
    check_fedavg(grid, result, wf)


def test_secagg_workflow_complete_graph():
    wf = SecAggWorkflow(reconstruction_threshold=3)
    grid, result, _ = run(wf, 5, secagg_mod)
    assert wf.last_round.neighbours is None
    check_fedavg(grid, result, wf)


def test_several_rounds_change_the_model():
    wf = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)
    grid, result, _ = run(wf, 5, secaggplus_mod, rounds=2)
    assert grid.stage == 8  # four Flower messages per round
    check_fedavg(grid, result, wf)


def test_nan_update_is_refused_and_others_aggregated():
    from secagg.flower.testing import InProcessGrid
    order = InProcessGrid(lambda m, c: None, 5, seed=0).node_ids
    wf = SecAggPlusWorkflow(num_shares=5, reconstruction_threshold=3)
    grid, result, _ = run(wf, 5, secaggplus_mod, poison={2})
    assert order[2] not in wf.last_round.included
    assert len(wf.last_round.included) == 4
    assert any("NaN" in f for f in wf.last_round.failures)
    check_fedavg(grid, result, wf)
    assert all(np.all(np.isfinite(a)) for a in result)


def test_no_wrap_around_modulus_grows_with_clients():
    # Flower's defaults wrap at 2,100 clients, d = 100; ours refuse that modulus...
    from secagg.flower._common import encoder_config, scale
    setup = {"dim": 100, "scale": scale(8.0, 2**22), "clipping_range": 8.0, "max_weight": 1000,
             "weight_unit": 1}
    cfg = encoder_config(setup)
    with pytest.raises(secagg.EncodingError) as e:
        cfg.check(2**32, 2100)
    assert e.value.kind == "WouldWrap" and e.value.smallest_bits > 32
    # ... and the workflow treats modulus_range as a floor, growing it to what the sum needs.
    wf = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2, quantization_range=2**10,
                            modulus_range=2**11)
    grid, result, _ = run(wf, 5, secaggplus_mod)
    bits = wf.last_round.modulus_bits
    small = encoder_config({**setup, "dim": 17, "scale": scale(8.0, 2**10)})
    assert bits == small.requirement(5)["smallest_bits"] > 11
    assert 2**bits == wf.last_round.params.modulus
    check_fedavg(grid, result, wf)


def test_weight_unit_one_keeps_flowers_modulus_at_100_clients():
    # d = 10^5, 100 clients, Flower's defaults: the weight element at unit 1 needs no room
    # of its own, so the sum fits Flower's 2^32 (the default unit would need 2^37).
    from secagg.flower._common import encoder_config, scale
    setup = {"dim": 100_000, "scale": scale(8.0, 2**22), "clipping_range": 8.0, "max_weight": 1000}
    assert encoder_config(setup).requirement(100)["smallest_bits"] == 37
    assert encoder_config({**setup, "weight_unit": 1}).requirement(100)["smallest_bits"] == 29
    wf = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)
    grid, result, _ = run(wf, 5, secaggplus_mod)
    assert wf.last_round.modulus_bits == 32
    check_fedavg(grid, result, wf)


def test_refuses_when_no_modulus_fits():
    # 5 clients at coordinates up to 8 * (2^62 - 1) / 16 = 2^61 need a 65-bit modulus.
    wf = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2, quantization_range=2**62,
                            modulus_range=2**63)
    grid, result, _ = run(wf, 5, secaggplus_mod)
    assert wf.last_round.halted
    assert all(np.all(a == 0) for a in result)  # the model is unchanged


def test_no_plaintext_secret_in_the_context():
    from secagg.flower.testing import InProcessGrid

    seen = {}

    def drop(stage, nid):
        return False

    wf = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)
    grid, _, _ = run(wf, 5, secaggplus_mod, drop=drop)
    key = open(os.environ["SECAGG_STATE_KEY_FILE"], "rb").read()
    for nid in grid.node_ids:
        ctx = grid.context(nid)
        blob = grid.contexts[nid]
        assert key not in blob
        assert set(ctx.state.config_records) == {STATE_RECORD}
        record = ctx.state.config_records[STATE_RECORD]
        # Only the sealed state and public values; no Flower "secaggplus_state" with keys.
        assert set(record) <= {"sealed", "stage", "params", "id", "dim", "scale", "clipping_range",
                               "max_weight", "weight_unit", "l2_clip", "noise", "noise_multiplier",
                               "min_contributors"}
        # The sealed state opens only with the node's key.
        params = secagg.Params.from_bytes(record["params"])
        with pytest.raises(secagg.StateError):
            secagg.ClientSession.open(record["sealed"], secagg.StateKey(bytes(32)), params, record["id"])
        s = secagg.ClientSession.open(record["sealed"], secagg.StateKey(key), params, record["id"],
                                      newest_stage=record["stage"])
        assert s.stage == 4
        seen[nid] = record["sealed"]
    assert len(set(seen.values())) == 5


def test_masked_inputs_look_uniform():
    """The masked update a client sends is ChaCha20 output: its bytes look uniform even
    for an all-zero update, and two sessions of one input differ everywhere."""
    p = secagg.Params(bytes(32), 3, 2**32, 4096)
    sent = []
    for session in (b"\x01" * 32, b"\x02" * 32):
        p = secagg.Params(session, 3, 2**32, 4096)
        server = secagg.ServerSession(p)
        clients = {}
        for u in (1, 2, 3):
            clients[u], m = secagg.ClientSession.start(p, u)
            server.receive(u, m)
        [(to, roster)] = server.close()
        for u in to:
            server.receive(u, clients[u].handle(roster))
        deliveries = {to[0]: m for to, m in server.close()}
        sent.append(clients[1].handle_with_input(deliveries[1], np.zeros(4096, dtype=np.uint64)))
    a, b = (np.frombuffer(s[-4096 * 4:], dtype=np.uint8) for s in sent)
    counts = np.bincount(a, minlength=256)
    # 16384 bytes, 64 expected per value: a loose chi-square bound (p < 1e-12 to fail).
    chi2 = float(((counts - 64.0) ** 2 / 64.0).sum())
    assert chi2 < 420
    assert np.mean(a == b) < 0.02


def test_mixing_with_flowers_workflow_fails_clearly():
    from flwr.server.workflow import SecAggPlusWorkflow as FlowerWorkflow
    wf = FlowerWorkflow(num_shares=3, reconstruction_threshold=2)
    grid, result, _ = run(wf, 3, secaggplus_mod)
    assert all(np.all(a == 0) for a in result)
    assert grid.errors and all("Flower's own SecAggPlusWorkflow" in e for e in grid.errors)


def test_mixing_with_flowers_mod_fails_clearly():
    from flwr.client.mod import secaggplus_mod as flower_mod
    wf = SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)
    grid, result, _ = run(wf, 3, flower_mod)
    assert wf.last_round.halted or not wf.last_round.included
    assert wf.last_round.failures
    assert all("use secagg.flower.secaggplus_mod" in f for f in wf.last_round.failures)
    assert all(np.all(a == 0) for a in result)


def test_even_num_shares_maps_to_odd_holders():
    from secagg.flower._workflow import graph
    assert graph(4, 3, 100) == (4, 3)
    assert graph(5, 3, 100) == (4, 3)
    assert graph(6, 2, 100) == (6, 2)  # the threshold as given (the model's condition)
    assert graph(6, 2, 100, require_majority=True) == (6, 4)  # a strict majority of 7
    assert graph(6, 2, 100, threat_model="malicious") == (6, 5)  # more than two thirds of 7
    assert graph(5, 1, 100) == (4, 2)  # never 1: every share would be the secret
    assert graph(3, 2, 3) == (None, 2)


def test_threshold_as_given_and_the_majority_optional(monkeypatch):
    """The drop-in keeps Flower's threshold (the core's honest-but-curious default); a
    strict majority is an option of the server (require_majority=True) and of each node
    (node config secagg-require-majority), which a server cannot switch off."""
    wf = SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=2)
    grid, result, _ = run(wf, 10, secaggplus_mod)
    assert wf.last_round.halted is None and wf.last_round.threshold == 2
    assert wf.last_round.params.threshold == 2 and wf.last_round.params.share_holders == 7
    check_fedavg(grid, result, wf)

    wf = SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=2, require_majority=True)
    grid, result, _ = run(wf, 10, secaggplus_mod, node_config=lambda i: {"secagg-require-majority": "true"})
    assert wf.last_round.halted is None and wf.last_round.threshold == 4
    check_fedavg(grid, result, wf)

    # Nodes that require a majority refuse a server that does not give one.
    wf = SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=2)
    grid, result, _ = run(wf, 10, secaggplus_mod, node_config=lambda i: {"secagg-require-majority": "true"})
    assert wf.last_round.halted is not None
    assert len(grid.errors) == 10 and all("not a strict majority" in e for e in grid.errors)
    assert all(np.all(a == 0) for a in result)


def test_constructor_matches_flower():
    import inspect
    from flwr.server.workflow import SecAggPlusWorkflow as F, SecAggWorkflow as G
    ours, theirs = inspect.signature(SecAggPlusWorkflow), inspect.signature(F)
    for name, p in theirs.parameters.items():
        assert ours.parameters[name].default == p.default and ours.parameters[name].kind == p.kind
    for name, p in inspect.signature(G).parameters.items():
        assert inspect.signature(SecAggWorkflow).parameters[name].default == p.default
    with pytest.raises(ValueError):
        SecAggPlusWorkflow(num_shares=2, reconstruction_threshold=2)
    with pytest.raises(ValueError):
        SecAggPlusWorkflow(num_shares=5, reconstruction_threshold=2, modulus_range=3 * 2**20)


def test_state_key_lookup_order(tmp_path, monkeypatch):
    from secagg.flower import _keys
    monkeypatch.delenv("SECAGG_STATE_KEY_FILE", raising=False)
    monkeypatch.setenv("FLWR_HOME", str(tmp_path / "home"))
    _keys._cache.clear()
    # Without configuration: a key file created on first use, 0600, and found again.
    k1 = _keys.state_key({})
    path = tmp_path / "home" / "secagg-state.key"
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_bytes()) == 32
    _keys._cache.clear()
    p = secagg.Params(bytes(32), 3, 2**32, 4)
    c, _ = secagg.ClientSession.start(p, 1)
    sealed = c.seal(k1)
    secagg.ClientSession.open(sealed, _keys.state_key({}), p, 1)
    # The node config names a file (hex here).
    keyfile = tmp_path / "node.key"
    keyfile.write_text("11" * 32)
    k2 = _keys.state_key({_keys.NODE_CONFIG_KEY_FILE: str(keyfile)})
    secagg.ClientSession.open(c.seal(k2), secagg.StateKey(b"\x11" * 32), p, 1)
    # The environment variable wins over both.
    monkeypatch.setenv("SECAGG_STATE_KEY", "22" * 32)
    k3 = _keys.state_key({_keys.NODE_CONFIG_KEY_FILE: str(keyfile)})
    secagg.ClientSession.open(c.seal(k3), secagg.StateKey(b"\x22" * 32), p, 1)
    monkeypatch.setenv("SECAGG_STATE_KEY", "not hex")
    with pytest.raises(secagg.ConfigError) as e:
        _keys.state_key({})
    assert e.value.kind == "StateKey"
    monkeypatch.delenv("SECAGG_STATE_KEY")
    with pytest.raises(secagg.ConfigError) as e:
        _keys.state_key({_keys.NODE_CONFIG_KEY_FILE: str(tmp_path / "missing.key")})
    assert e.value.kind == "StateKeyFile"


def test_abort_below_threshold_leaves_the_model_unchanged():
    from secagg.flower.testing import InProcessGrid
    order = InProcessGrid(lambda m, c: None, 5, seed=0).node_ids

    def drop(stage, nid):
        return stage == 2 and nid in order[:3]

    wf = SecAggWorkflow(reconstruction_threshold=3)
    grid, result, _ = run(wf, 5, secagg_mod, drop=drop)
    assert wf.last_round.halted.startswith("TooFewSurvivors")
    assert all(np.all(a == 0) for a in result)
