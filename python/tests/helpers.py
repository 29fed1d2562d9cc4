"""An in-memory driver of the byte-level sessions, for the tests."""

import numpy as np

import secagg


def run(params, inputs, drop=None, identities=None, pki=None):
    """Runs one session; ``drop`` maps a round index (0 = before AdvertiseKeys is received,
    1 = before ShareKeys, 2 = before MaskedInput, 3+ = later) to client ids that go silent
    from then on. Returns the Output."""
    drop = drop or {}
    n = params.clients
    server = secagg.ServerSession(params, pki)
    clients, outbox = {}, {}
    for u in range(1, n + 1):
        kw = {}
        if identities:
            kw = {"identity_key": identities[u], "pki": pki}
        clients[u], outbox[u] = secagg.ClientSession.start(params, u, **kw)
    gone = set()
    for step in range(8):
        gone |= set(drop.get(step, ()))
        for u, msg in outbox.items():
            if u not in gone and msg is not None:
                server.receive(u, msg)
        closed = server.close()
        if isinstance(closed, secagg.Output):
            return closed
        outbox = {}
        for to, msg in closed:
            for u in to:
                if u in gone:
                    continue
                c = clients[u]
                if c.needs_input:
                    outbox[u] = c.handle_with_input(msg, inputs[u])
                else:
                    outbox[u] = c.handle(msg)
    raise AssertionError("the session did not finish in 8 rounds")


def random_inputs(params, seed=0):
    rng = np.random.default_rng(seed)
    hi = min(params.modulus, 2**63)
    return {
        u: rng.integers(0, hi, size=params.vector_len, dtype=np.uint64)
        for u in range(1, params.clients + 1)
    }


def expected_sum(params, inputs, included):
    m = params.modulus
    total = [0] * params.vector_len
    for u in included:
        for i, x in enumerate(inputs[u].tolist()):
            total[i] = (total[i] + x) % m
    return total
