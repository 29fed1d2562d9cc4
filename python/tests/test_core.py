import numpy as np
import pytest

import secagg
from helpers import expected_sum, random_inputs, run

SESSION = bytes(range(32))


def test_secagg_sum_with_dropouts():
    p = secagg.Params(SESSION, 10, 2**32, 50)
    inputs = random_inputs(p, 1)
    out = run(p, inputs, drop={1: [3], 2: [7, 8]})
    assert out.included == [u for u in range(1, 11) if u not in (3, 7, 8)]
    assert out.sum.dtype == np.uint64
    assert out.sum.tolist() == expected_sum(p, inputs, out.included)


def test_secagg_plus_sum_non_power_of_two_modulus():
    p = secagg.Params(SESSION, 20, 1_000_003, 30, neighbours=6, threshold=4)
    assert p.neighbours == 6 and p.share_holders == 7
    inputs = random_inputs(p, 2)
    out = run(p, inputs, drop={2: [5, 11]})
    assert 5 not in out.included and 11 not in out.included
    assert out.sum.tolist() == expected_sum(p, inputs, out.included)


def test_malicious_mode_with_identities():
    n = 5
    keys = {u: secagg.IdentityKey.from_seed(bytes([u]) * 32) for u in range(1, n + 1)}
    pki = secagg.Pki({u: k.public_key() for u, k in keys.items()})
    assert len(pki) == n
    p = secagg.Params(SESSION, n, 2**16, 8, threat_model="malicious")
    inputs = random_inputs(p, 3)
    out = run(p, inputs, identities=keys, pki=pki)
    assert out.sum.tolist() == expected_sum(p, inputs, range(1, n + 1))
    assert keys[1].to_seed() == bytes([1]) * 32
    assert "redacted" in repr(keys[1])


def test_params_bytes_round_trip_and_expectations():
    p = secagg.Params(SESSION, 100, 2**32, 1000, neighbours=10, threshold=6)
    b = p.to_bytes()
    assert len(b) == 65
    assert secagg.Params.from_bytes(b) == p
    with pytest.raises(secagg.ConfigError) as e:
        secagg.Params.from_bytes(b + b"\x00")
    assert e.value.kind
    common = dict(session=SESSION, threat_model="honest_but_curious", min_neighbours=10,
                  max_clients=1000, max_vector_len=10**6)
    assert secagg.Params.from_bytes_expecting(b, min_threshold=6, **common) == p
    with pytest.raises(secagg.ConfigError) as e:
        secagg.Params.from_bytes_expecting(b, min_threshold=7, **common)
    assert e.value.kind == "Unexpected"


@pytest.mark.parametrize(
    "kwargs,kind",
    [
        (dict(neighbours=5), "Degree"),  # odd degree
        (dict(threshold=1), "Threshold"),  # every share would be the secret
        (dict(threshold=5, require_majority=True), "Threshold"),  # below a strict majority
        (dict(threshold=11), "Threshold"),
    ],
)
def test_config_errors_are_typed(kwargs, kind):
    with pytest.raises(secagg.ConfigError) as e:
        secagg.Params(SESSION, 10, 2**32, 10, **kwargs)
    assert e.value.kind == kind
    assert isinstance(e.value, secagg.SecAggError)


def test_bad_modulus_and_session():
    with pytest.raises(secagg.ConfigError) as e:
        secagg.Params(SESSION, 10, 1, 10)
    assert e.value.kind == "ModulusOutOfRange"
    with pytest.raises(ValueError):
        secagg.Params(SESSION, 10, 2**65, 10)
    with pytest.raises(ValueError):
        secagg.Params(b"short", 10, 2**32, 10)
    assert secagg.Params(SESSION, 3, 2**64, 1).modulus == 2**64


def test_abort_below_threshold():
    p = secagg.Params(SESSION, 5, 2**32, 4)
    with pytest.raises(secagg.AbortError) as e:
        run(p, random_inputs(p), drop={2: [1, 2, 3]})
    assert e.value.kind == "TooFewSurvivors"


def test_server_rejects_garbage_and_goes_on():
    p = secagg.Params(SESSION, 3, 2**32, 4)
    server = secagg.ServerSession(p)
    with pytest.raises(secagg.MisbehaviorError) as e:
        server.receive(2, b"\x02\x00garbage")
    assert e.value.client == 2 and e.value.by == "client"
    assert e.value.kind == "Malformed" and e.value.round == "AdvertiseKeys"
    assert server.alive and server.round == "AdvertiseKeys"


def test_client_refuses_garbage_then_is_over():
    p = secagg.Params(SESSION, 3, 2**32, 4)
    c, _ = secagg.ClientSession.start(p, 1)
    with pytest.raises(secagg.MisbehaviorError) as e:
        c.handle(b"not a roster")
    assert e.value.by == "server" and e.value.client is None
    assert not c.alive
    with pytest.raises(secagg.ApiMisuseError) as e:
        c.handle(b"")
    assert e.value.kind == "SessionOver"


def _to_shares(p):
    server = secagg.ServerSession(p)
    clients = {}
    for u in range(1, p.clients + 1):
        clients[u], msg = secagg.ClientSession.start(p, u)
        server.receive(u, msg)
    [(to, roster)] = server.close()
    for u in to:
        server.receive(u, clients[u].handle(roster))
    deliveries = server.close()
    return server, clients, {to[0]: msg for to, msg in deliveries}


def test_input_needed_and_length_checked():
    p = secagg.Params(SESSION, 3, 2**32, 4)
    _, clients, deliveries = _to_shares(p)
    assert clients[1].needs_input and clients[1].stage == 1
    with pytest.raises(secagg.ApiMisuseError) as e:
        clients[1].handle(deliveries[1])
    assert e.value.kind == "InputNeeded"
    with pytest.raises(secagg.ApiMisuseError) as e:
        clients[2].handle_with_input(deliveries[2], np.zeros(5, dtype=np.uint64))
    assert e.value.kind == "InputLength"
    with pytest.raises(ValueError):
        clients[3].handle_with_input(deliveries[3], np.zeros(8, dtype=np.uint64)[::2])
    with pytest.raises(TypeError):
        clients[3].handle_with_input(deliveries[3], np.zeros(4, dtype=np.float64))


def test_sealed_sessions_resume_in_place_of_live_ones():
    p = secagg.Params(SESSION, 4, 2**32, 6)
    inputs = random_inputs(p, 4)
    key = secagg.StateKey.generate()
    assert "redacted" in repr(key)
    server, clients, deliveries = _to_shares(p)
    # Every client and the server are sealed and restored from bytes before going on.
    sealed = {u: (c.seal(key), c.stage) for u, c in clients.items()}
    clients = {u: secagg.ClientSession.open(b, key, p, u, newest_stage=s) for u, (b, s) in sealed.items()}
    server = secagg.ServerSession.open(server.seal(key), key, p)
    for u, c in clients.items():
        server.receive(u, c.handle_with_input(deliveries[u], inputs[u]))
    requests = server.close()
    for to, msg in requests:
        server.receive(to[0], clients[to[0]].handle(msg))
    out = server.close()
    assert out.sum.tolist() == expected_sum(p, inputs, range(1, 5))


def test_state_errors_are_typed():
    p = secagg.Params(SESSION, 3, 2**32, 4)
    key = secagg.StateKey(b"\x07" * 32)
    c, _ = secagg.ClientSession.start(p, 1)
    sealed = c.seal(key)
    with pytest.raises(secagg.StateError) as e:
        secagg.ClientSession.open(sealed, secagg.StateKey(b"\x08" * 32), p, 1)
    assert e.value.kind == "Unauthentic"
    with pytest.raises(secagg.StateError) as e:
        secagg.ClientSession.open(sealed, key, p, 1, newest_stage=1)
    assert e.value.kind == "RolledBack"
    with pytest.raises(secagg.StateError):
        secagg.ClientSession.open(sealed, key, p, 2)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(secagg.StateError):
        secagg.ClientSession.open(bytes(tampered), key, p, 1)
    with pytest.raises(ValueError):
        secagg.StateKey(b"short")


def test_encoder_round_trip_within_step():
    d, n, scale = 100, 10, 2.0**16
    cfg = secagg.EncoderConfig(d, scale, l2_clip=10.0, coordinate_clip=1.0)
    need = cfg.requirement(n)
    enc = cfg.check(2 ** need["smallest_bits"], n)
    assert enc.budget["capacity"] >= need["signal_bound"]
    rng = np.random.default_rng(5)
    xs = [rng.uniform(-0.5, 0.5, d) for _ in range(n)]
    total = np.zeros(cfg.vector_len, dtype=object)
    for x in xs:
        v, report = enc.encode(x)
        assert v.dtype == np.uint64 and len(v) == cfg.vector_len
        assert not report["clipped"]
        total = (total + v.astype(object)) % enc.modulus
    mean = enc.decode(np.array(total, dtype=np.uint64), n)
    assert np.max(np.abs(mean - np.mean(xs, axis=0))) <= 1.0 / scale


def test_encoder_weighted_mean():
    d = 16
    cfg = secagg.EncoderConfig(d, 2.0**12, l2_clip=4.0, max_weight=100)
    enc = cfg.check(2**40, 3)
    xs = [np.full(d, 0.1), np.full(d, 0.2), np.full(d, 0.4)]
    ws = [10, 30, 60]
    total = np.zeros(cfg.vector_len, dtype=np.uint64)
    for x, w in zip(xs, ws):
        total = total + enc.encode(x, weight=w)[0]  # wraps mod 2^64, a multiple of m
    total = total % np.uint64(enc.modulus)
    mean = enc.decode(total, 3)
    want = sum(w * x for x, w in zip(xs, ws)) / sum(ws)
    assert np.max(np.abs(mean - want)) < 0.01


def test_weight_unit_one_is_exact_and_needs_a_smaller_modulus():
    d = 16
    default = secagg.EncoderConfig(d, 2.0**12, coordinate_clip=1.0, max_weight=1000)
    cfg = secagg.EncoderConfig(d, 2.0**12, coordinate_clip=1.0, max_weight=1000, weight_unit=1)
    # Coordinates are bounded by 2^12, the weight element by 1000 (not 1000 * floor(R / 1000)).
    assert cfg.requirement(3)["weight_bound"] == 1000
    assert default.requirement(3)["weight_bound"] > 2**12
    assert cfg.requirement(3)["smallest_bits"] < default.requirement(3)["smallest_bits"]
    enc = cfg.check(2 ** cfg.requirement(3)["smallest_bits"], 3)
    xs = [np.full(d, 0.1), np.full(d, -0.2), np.full(d, 0.4)]
    ws = [10, 300, 1000]
    total = sum(enc.encode(x, weight=w)[0].astype(object) for x, w in zip(xs, ws))
    mean = enc.decode(np.array([int(v) % enc.modulus for v in total], dtype=np.uint64), 3)
    want = sum(w * x for x, w in zip(xs, ws)) / sum(ws)
    # Three roundings of at most one unit each, over the total weight / max_weight.
    assert np.max(np.abs(mean - want)) <= 3 / 2.0**12 * 1000 / sum(ws)
    with pytest.raises(secagg.EncodingError) as e:
        secagg.EncoderConfig(d, 2.0**12, coordinate_clip=1.0, max_weight=1000, weight_unit=0)
    assert e.value.kind == "Config"


def test_encoder_rejects_nan_and_reports_clipping():
    cfg = secagg.EncoderConfig(4, 100.0, l2_clip=1.0)
    enc = cfg.check(2**32, 10)
    with pytest.raises(secagg.EncodingError) as e:
        enc.encode(np.array([0.0, np.nan, 0.0, 0.0]))
    assert e.value.kind == "NonFinite" and e.value.index == 1
    with pytest.raises(secagg.EncodingError):
        enc.encode(np.array([0.0, np.inf, 0.0, 0.0]))
    _, report = enc.encode(np.array([3.0, 4.0, 0.0, 0.0]))
    assert report["l2_clipped"] and report["norm"] == pytest.approx(5.0)
    with pytest.raises(secagg.EncodingError) as e:
        enc.encode(np.zeros(3))
    assert e.value.kind == "InputLength"


def test_preflight_refuses_a_wrapping_modulus():
    cfg = secagg.EncoderConfig(100, 2.0**22, coordinate_clip=8.0)
    with pytest.raises(secagg.EncodingError) as e:
        cfg.check(2**32, 2100)
    assert e.value.kind == "WouldWrap"
    assert e.value.smallest_bits == cfg.requirement(2100)["smallest_bits"] > 32
    cfg.check(2 ** e.value.smallest_bits, 2100)


def test_noise_and_accountant():
    cfg = secagg.EncoderConfig(64, 2.0**10, l2_clip=1.0, noise="discrete_gaussian",
                               noise_multiplier=1.0, min_contributors=5)
    enc = cfg.check(2 ** cfg.requirement(10)["smallest_bits"], 10)
    priv = enc.privacy(10, 1e-6)
    assert priv["epsilon"] > 0 and priv["rounds"] == 10
    p = secagg.Params(SESSION, 10, enc.modulus, cfg.vector_len, threshold=6)
    enc.check_params(p)
    with pytest.raises(secagg.EncodingError) as e:
        enc.decode(np.zeros(cfg.vector_len, dtype=np.uint64), 3)
    assert e.value.kind == "TooFewContributors"
    with pytest.raises(secagg.EncodingError):
        secagg.EncoderConfig(64, 2.0**10, l2_clip=1.0).check(2**32, 10).privacy(1, 1e-6)


def test_encoder_config_errors():
    with pytest.raises(secagg.EncodingError) as e:
        secagg.EncoderConfig(10, 1.0)
    assert e.value.kind == "Config"
    with pytest.raises(ValueError):
        secagg.EncoderConfig(10, 1.0, l2_clip=1.0, noise="laplace")


def test_rotation_seed_is_per_session():
    a, b = secagg.rotation_seed(SESSION), secagg.rotation_seed(bytes(32))
    assert len(a) == 32 and a != b and a == secagg.rotation_seed(SESSION)


def test_find_params():
    found = secagg.find_params(1000, 0.05, 0.05)
    k, t = found["neighbours"], found["threshold"]
    assert k is not None and k % 2 == 0 and 2 <= t <= k + 1
    secagg.Params(SESSION, 1000, 2**32, 10, neighbours=k, threshold=t)
    small = secagg.find_params(5, 0.0, 0.0)
    secagg.Params(SESSION, 5, 2**32, 10, neighbours=small["neighbours"], threshold=small["threshold"])
    with pytest.raises(secagg.ConfigError) as e:
        secagg.find_params(100, 1.5, 0.0)
    assert e.value.kind == "DropoutRate"


def test_majority_is_optional_defence_in_depth():
    # Google's finder gives (72, 24) for 1,000 clients, 33 % dropout, 5 % corrupt.
    model = secagg.find_params(1000, 0.33, 0.05)
    assert (model["k"], model["threshold"]) == (72, 24)
    majority = secagg.find_params(1000, 0.33, 0.05, require_majority=True)
    assert 2 * majority["threshold"] > majority["k"] + 1
    p = secagg.Params(SESSION, 1000, 2**32, 10, neighbours=72, threshold=24)
    with pytest.raises(secagg.ConfigError):
        secagg.Params(SESSION, 1000, 2**32, 10, neighbours=72, threshold=24, require_majority=True)
    common = dict(session=SESSION, threat_model="honest_but_curious", min_threshold=2,
                  min_neighbours=72, max_clients=1000, max_vector_len=10)
    assert secagg.Params.from_bytes_expecting(p.to_bytes(), **common) == p
    with pytest.raises(secagg.ConfigError) as e:
        secagg.Params.from_bytes_expecting(p.to_bytes(), require_majority=True, **common)
    assert e.value.kind == "Unexpected"


def test_handle_with_update_encodes_and_masks_in_one_call():
    """Every client answers the shares delivery with `handle_with_update` (float32 for some,
    float64 or a strided view for others): the decoded sum is the weighted mean within the
    step, and an encoding error leaves the session usable."""
    n, d, scale = 6, 40, 2.0**14
    cfg = secagg.EncoderConfig(d, scale, coordinate_clip=1.0, max_weight=50, weight_unit=1)
    enc = cfg.check(2 ** cfg.requirement(n)["smallest_bits"], n)
    p = secagg.Params(SESSION, n, enc.modulus, cfg.vector_len, threshold=4)
    rng = np.random.default_rng(9)
    updates = {u: rng.uniform(-1, 1, 2 * d)[::2] if u % 3 == 0 else rng.uniform(-1, 1, d) for u in range(1, n + 1)}
    updates = {u: (x.astype(np.float32) if u % 2 else x) for u, x in updates.items()}
    weights = {u: 5 * u for u in range(1, n + 1)}
    server = secagg.ServerSession(p)
    clients, out = {}, {}
    for u in range(1, n + 1):
        clients[u], out[u] = secagg.ClientSession.start(p, u)
    for step in range(6):
        for u, m in out.items():
            server.receive(u, m)
        closed = server.close()
        if isinstance(closed, secagg.Output):
            break
        out = {}
        for to, m in closed:
            for u in to:
                c = clients[u]
                if not c.needs_input:
                    out[u] = c.handle(m)
                    continue
                bad = np.array(updates[u], dtype=np.float64)
                bad[3] = np.nan
                with pytest.raises(secagg.EncodingError) as e:
                    c.handle_with_update(m, enc, bad, weights[u])
                assert e.value.kind == "NonFinite" and e.value.index == 3
                assert c.alive and c.needs_input
                with pytest.raises(TypeError):
                    c.handle_with_update(m, enc, updates[u].astype(np.int64), weights[u])
                out[u], report = c.handle_with_update(m, enc, updates[u], weights[u])
                assert not report["clipped"]
    assert isinstance(closed, secagg.Output) and closed.included == list(range(1, n + 1))
    mean = enc.decode(closed.sum, n)
    total = sum(weights.values())
    want = sum(weights[u] * np.asarray(updates[u], dtype=np.float64) for u in updates) / total
    # n roundings of at most one step each, over total weight / max weight.
    assert np.max(np.abs(mean - want)) <= n / scale * 50 / total + 1e-12
