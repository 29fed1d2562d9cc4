"""The server side: ``SecAggPlusWorkflow`` / ``SecAggWorkflow`` with Flower 1.42's
constructor, running our protocol (``secagg.ServerSession``) underneath."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from logging import ERROR, INFO, WARNING
from typing import Optional, Union, cast

import numpy as np

import flwr.compat.common.recorddict_compat as compat
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.common import FitRes, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp.grid import Grid
from flwr.supercore import log

from .._native import (
    MisbehaviorError,
    Output,
    Params,
    SecAggError,
    ServerSession,
)
from ._identity import Directory, roster_session
from ._common import (
    FLOWER_RECORD,
    PROTOCOL_VERSION,
    RECORD,
    STAGE_BY_ROUND,
    encoder_config,
    error,
    max_weight_units,
    scale,
)


@dataclass
class RoundReport:
    """What the last round did: for tests, logs and benchmarks (no secret in it)."""

    sampled: list[int] = field(default_factory=list)
    included: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    params: Optional[Params] = None
    modulus_bits: int = 0
    neighbours: Optional[int] = None
    threshold: int = 0
    server_seconds: float = 0.0
    halted: Optional[str] = None
    threat_model: str = "honest_but_curious"
    # Malicious-server mode: the identity names in client-id order.
    roster: list[str] = field(default_factory=list)


def graph(num_shares: int, threshold: int, clients: int, threat_model: str = "honest_but_curious",
          require_majority: bool = False) -> tuple[Optional[int], int]:
    """Flower's ``num_shares`` (share holders, the client itself included) and
    ``reconstruction_threshold`` as our degree ``k`` and threshold ``t``.

    An even ``num_shares`` is rounded up to the next odd one (the degree of a Harary graph
    on any roster size must be even); a ``num_shares`` that covers every client is the
    complete graph (SecAgg).

    The threshold is the caller's, as in Flower and in the core's honest-but-curious
    default: what security needs is ``t`` above the number of corrupt share holders
    (Bonawitz et al., CCS 2017, Theorem 6.2; per neighbourhood for SecAgg+), a property of
    the deployment (``secagg.find_params`` computes it from a corruption rate). Raised, with a
    warning, only to a floor: a strict majority of the holders with ``require_majority``
    (defence in depth: two sets of ``t`` holders then always intersect), more than two
    thirds against a malicious server (section 6.3), and 2 always (with ``t = 1`` every
    share is the secret).
    """
    k = max(2, num_shares - 1)
    if k % 2 == 1:
        k += 1
        log(WARNING, "secagg.flower: num_shares %s is even: using %s share holders", num_shares, k + 1)
    neighbours: Optional[int] = k
    holders = k + 1
    if holders >= clients:
        neighbours, holders = None, clients
    if threat_model == "malicious":
        # More than two thirds of the holders (Bonawitz et al., CCS 2017, section 6.3).
        floor, what = holders * 2 // 3 + 1, "more than two thirds"
    elif require_majority:
        floor, what = holders // 2 + 1, "a strict majority"
    else:
        floor, what = 2, "2 (with t = 1 every share is the secret)"
    if threshold < floor:
        log(WARNING, "secagg.flower: reconstruction_threshold %s is below %s of "
            "the %s share holders: using %s", threshold, what, holders, floor)
        threshold = floor
    return neighbours, min(threshold, holders)


class SecAggPlusWorkflow:
    """Secure aggregation (SecAgg+) of the fit results, with Flower 1.42's constructor.

    The same arguments as ``flwr.server.workflow.SecAggPlusWorkflow`` with the same
    meaning, except that:

    * an even ``num_shares`` works (rounded up to odd, consistently on both sides);
    * ``modulus_range`` is a minimum: the modulus is the smallest power of two for which
      the preflight check proves that the sum of the sampled clients' encodings cannot
      wrap around, if that is larger (up to ``2^64``; beyond it the round is refused);
    * ``reconstruction_threshold`` is used as given (at least 2), as the core's
      honest-but-curious default does: security needs it above the number of corrupt share
      holders (``secagg.find_params`` computes it). ``require_majority=True`` raises it to a
      strict majority of the holders (defence in depth); the malicious-server mode to more
      than two thirds.

    Keyword-only extras: ``mask_suite`` (``"chacha20"`` or ``"aes128ctr"``), ``l2_clip``
    (an L2 bound on each update, on top of the per-coordinate ``clipping_range``),
    distributed DP noise (``noise="discrete_gaussian"`` or ``"skellam"``,
    ``noise_multiplier``, ``min_contributors``), and the malicious-server mode:
    ``threat_model="malicious"`` with ``directory`` (a :class:`secagg.flower.Directory` or
    the path of its file, the same one every SuperNode holds; :mod:`secagg.flower._identity`
    says where keys come from). In that mode each round starts with a ``hello`` message
    (each node names its identity), every protocol message is signed, the round has a
    ConsistencyCheck stage, and the threshold is more than two thirds of the share holders.
    """

    def __init__(  # pylint: disable=R0913
        self,
        num_shares: Union[int, float],
        reconstruction_threshold: Union[int, float],
        *,
        max_weight: float = 1000.0,
        clipping_range: float = 8.0,
        quantization_range: int = 4194304,
        modulus_range: int = 4294967296,
        timeout: Optional[float] = None,
        mask_suite: str = "chacha20",
        l2_clip: Optional[float] = None,
        noise: Optional[str] = None,
        noise_multiplier: float = 0.0,
        min_contributors: int = 0,
        threat_model: str = "honest_but_curious",
        directory: Union[Directory, str, "os.PathLike[str]", None] = None,
        require_majority: bool = False,
    ) -> None:
        self.num_shares = num_shares
        self.reconstruction_threshold = reconstruction_threshold
        self.max_weight = max_weight
        self.clipping_range = clipping_range
        self.quantization_range = quantization_range
        self.modulus_range = modulus_range
        self.timeout = timeout
        self.mask_suite = mask_suite
        self.l2_clip = l2_clip
        self.noise = noise
        self.noise_multiplier = noise_multiplier
        self.min_contributors = min_contributors
        self.threat_model = threat_model
        self.require_majority = require_majority
        if threat_model not in ("honest_but_curious", "malicious"):
            raise ValueError("`threat_model` must be \"honest_but_curious\" or \"malicious\".")
        if threat_model == "malicious" and directory is None:
            raise ValueError("`threat_model=\"malicious\"` needs `directory`: the public-key "
                             "directory every SuperNode holds.")
        if directory is not None and not isinstance(directory, Directory):
            directory = Directory.load(directory)
        self.directory: Optional[Directory] = directory
        self.last_round = RoundReport()
        self._dst: dict[str, int] = {}
        self._check_init_params()

    def _check_init_params(self) -> None:
        if isinstance(self.num_shares, bool) or not isinstance(self.num_shares, (int, float)):
            raise TypeError("`num_shares` must be of type int or float.")
        if isinstance(self.num_shares, int):
            if self.num_shares == 1:
                self.num_shares = 1.0
            elif self.num_shares <= 2:
                raise ValueError("`num_shares` as an integer must be greater than 2.")
        elif self.num_shares <= 0:
            raise ValueError("`num_shares` as a float must be greater than 0.")
        t = self.reconstruction_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise TypeError("`reconstruction_threshold` must be of type int or float.")
        if isinstance(t, int):
            if t == 1:
                self.reconstruction_threshold = 1.0
            elif isinstance(self.num_shares, int) and t > self.num_shares:
                raise ValueError("`reconstruction_threshold` must be at most `num_shares`.")
        elif not 0 < t <= 1:
            raise ValueError("If `reconstruction_threshold` is a float, it must be greater "
                             "than 0 and less than or equal to 1.")
        if not self.max_weight > 0:
            raise ValueError("`max_weight` must be greater than 0.")
        if not (isinstance(self.clipping_range, (int, float)) and self.clipping_range > 0):
            raise ValueError("`clipping_range` must be greater than 0.")
        if not isinstance(self.quantization_range, int) or self.quantization_range <= 1:
            raise ValueError("`quantization_range` must be an integer greater than 1.")
        m = self.modulus_range
        if not isinstance(m, int) or m <= self.quantization_range:
            raise ValueError("`modulus_range` must be an integer and greater than `quantization_range`.")
        if bin(m).count("1") != 1:
            raise ValueError("`modulus_range` must be a power of 2.")
        if m > 2**64:
            raise ValueError("`modulus_range` must be at most 2**64.")
        if self.mask_suite not in ("chacha20", "aes128ctr"):
            raise ValueError("`mask_suite` must be \"chacha20\" or \"aes128ctr\".")

    # ------------------------------------------------------------------------------------
    def __call__(self, grid: Grid, context: Context) -> None:
        """Run one round of secure aggregation over the strategy's sampled clients."""
        if not isinstance(context, LegacyContext):
            raise TypeError(f"Expect a LegacyContext, but get {type(context).__name__}.")
        self.last_round = RoundReport()
        log(INFO, "Secure aggregation commencing.")
        try:
            done = self._run(grid, context)
        except SecAggError as e:
            # Aborts (too few survivors), refusals (no safe modulus): the model is unchanged.
            kind = getattr(e, "kind", type(e).__name__)
            log(ERROR, "Secure aggregation: %s (%s)", e, kind)
            self.last_round.halted = f"{kind}: {e}"
            done = False
        if done:
            log(INFO, "Secure aggregation completed.")
        else:
            log(INFO, "Secure aggregation halted.")

    def _sizes(self, n: int) -> tuple[int, int]:
        if isinstance(self.num_shares, float):
            shares = round(self.num_shares * n)
            if shares < n and shares % 2 == 0:
                shares += 1
            if shares <= 2:
                shares = n
        else:
            shares = self.num_shares
        if isinstance(self.reconstruction_threshold, float):
            t = max(round(self.reconstruction_threshold * min(shares, n)), 2)
        else:
            t = self.reconstruction_threshold
        return shares, t

    def _run(self, grid: Grid, context: LegacyContext) -> bool:  # pylint: disable=R0914
        report = self.last_round
        cfg = context.state.config_records[MAIN_CONFIGS_RECORD]
        current_round = cast(int, cfg[WorkflowKey.CURRENT_ROUND])
        parameters = compat.arrayrecord_to_parameters(
            context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True
        )
        proxy_fitins = context.strategy.configure_fit(current_round, parameters, context.client_manager)
        if not proxy_fitins:
            log(INFO, "configure_fit: no clients selected, cancel")
            return False
        log(INFO, "configure_fit: strategy sampled %s clients (out of %s)",
            len(proxy_fitins), context.client_manager.num_available())
        fitins = {p.node_id: compat.fitins_to_recorddict(f, True) for p, f in proxy_fitins}
        proxies = {p.node_id: p for p, _ in proxy_fitins}
        node_ids = sorted(fitins)
        report.sampled = node_ids
        report.threat_model = self.threat_model
        malicious = self.threat_model == "malicious"

        def send(stage: str, to_bytes: dict[int, bytes], extra=None) -> list[Message]:
            msgs = []
            for nid, payload in to_bytes.items():
                content = fitins[nid] if stage == "collect_masked_vectors" else RecordDict()
                record = {"stage": stage, "msg": payload}
                if extra:
                    record.update(extra(nid))
                content.config_records[RECORD] = ConfigRecord(record)
                msgs.append(Message(content=content, dst_node_id=nid, message_type=MessageType.TRAIN,
                                    group_id=str(current_round)))
            replies = list(grid.send_and_receive(msgs, timeout=self.timeout))
            # An error reply made by the SuperLink (a node that vanished) names the
            # SuperLink as its source: name the node it was meant for instead.
            self._dst = {m.metadata.message_id: m.metadata.dst_node_id for m in msgs}
            return replies

        names: dict[int, str] = {}
        if malicious:
            # Stage "hello": each node names its identity; the roster is the nodes whose
            # names are in the directory, once each.
            replies = send("hello", {nid: b"" for nid in node_ids},
                           lambda nid: {"version": PROTOCOL_VERSION, "threat_model": "malicious"})
            names = self._hello(replies)
            node_ids = sorted(names)
        n = len(node_ids)
        if n < 2:
            log(ERROR, "The number of samples should be greater than 1.")
            return False
        # Our client ids are 1..n in node-id order; each client is told its own.
        cid = {nid: i + 1 for i, nid in enumerate(node_ids)}
        nid_of = {c: nid for nid, c in cid.items()}

        start = time.perf_counter()
        global_arrays = parameters_to_ndarrays(parameters)
        dim = int(sum(a.size for a in global_arrays))
        setup = {
            "dim": dim,
            "scale": scale(self.clipping_range, self.quantization_range),
            "clipping_range": float(self.clipping_range),
            "max_weight": max_weight_units(self.max_weight),
        }
        if self.l2_clip:
            setup["l2_clip"] = float(self.l2_clip)
        if self.noise:
            setup.update(noise=self.noise, noise_multiplier=float(self.noise_multiplier),
                         min_contributors=int(self.min_contributors))
        else:
            # Without noise the weight element needs no span of its own (docs/ENCODING.md):
            # unit 1 keeps the total weight exact, and the modulus the preflight asks for is
            # the updates' (2^29 rather than 2^37 at 100 clients with Flower's defaults).
            setup["weight_unit"] = 1
        config = encoder_config(setup)
        # No wrap-around: the smallest power of two the preflight check proves enough for
        # n contributors, with modulus_range as a floor.
        need = config.requirement(n)["smallest_bits"]
        bits = max(int(self.modulus_range).bit_length() - 1, need)
        if bits > 64:
            log(ERROR, "Secure aggregation refused: the sum of %s updates needs a %s-bit modulus "
                "(more than 64); lower quantization_range or clipping_range", n, bits)
            report.halted = "modulus above 2^64"
            return False
        if bits > self.modulus_range.bit_length() - 1:
            log(INFO, "secagg.flower: modulus 2^%s (modulus_range 2^%s cannot hold the sum of %s updates)",
                bits, self.modulus_range.bit_length() - 1, n)
        shares, threshold = self._sizes(n)
        neighbours, threshold = graph(shares, threshold, n, self.threat_model, self.require_majority)
        session, pki, extra = os.urandom(32), None, {}
        if malicious:
            assert self.directory is not None
            roster = [names[nid] for nid in node_ids]
            nonce = os.urandom(32)
            # The session id commits to the roster with its keys; every client recomputes it.
            session, pki = roster_session(nonce, roster, self.directory), self.directory.pki(roster)
            extra = {"roster": roster, "nonce": nonce}
            report.roster = roster
        params = Params(session, n, 2**bits, config.vector_len, neighbours=neighbours,
                        threshold=threshold, mask_suite=self.mask_suite, threat_model=self.threat_model,
                        min_roster=self._min_roster(n, neighbours, threshold) if malicious else None,
                        require_majority=self.require_majority and not malicious)
        encoder = config.check(params.modulus, n)
        encoder.check_params(params)
        report.params, report.modulus_bits = params, bits
        report.neighbours, report.threshold = neighbours, threshold
        server = ServerSession(params, pki)
        report.server_seconds += time.perf_counter() - start

        # Stage setup: the parameters; each client answers with its AdvertiseKeys.
        setup_bytes = {nid: b"" for nid in node_ids}
        extra.update({"version": PROTOCOL_VERSION, "params": params.to_bytes(), **setup})
        replies = send("setup", setup_bytes, lambda nid: {**extra, "id": cid[nid]})
        legacy: dict[int, tuple[ClientProxy, FitRes]] = {}
        stage = "setup"
        # Bounded: a session has at most five rounds (AdvertiseKeys .. Unmasking).
        for _ in range(len(STAGE_BY_ROUND) + 1):
            t0 = time.perf_counter()
            accepted = self._receive(server, replies, cid, stage)
            if stage == "collect_masked_vectors":
                for msg in replies:
                    nid = msg.metadata.src_node_id
                    if nid in accepted:
                        legacy[nid] = (proxies[nid], compat.recorddict_to_fitres(msg.content, True))
            closed = server.close()
            report.server_seconds += time.perf_counter() - t0
            if isinstance(closed, Output):
                break
            stage = STAGE_BY_ROUND[server.round]
            outgoing = {nid_of[c]: payload for to, payload in closed for c in to}
            replies = send(stage, outgoing)
        else:
            raise error(SecAggError, "Internal", "secagg.flower: the session did not finish in five rounds")

        t0 = time.perf_counter()
        included_nids = [nid_of[c] for c in closed.included]
        report.included = included_nids
        mean = encoder.decode(closed.sum, len(closed.included))
        aggregated, offset = [], 0
        for a in global_arrays:
            aggregated.append(mean[offset:offset + a.size].reshape(a.shape).astype(a.dtype, copy=False))
            offset += a.size
        report.server_seconds += time.perf_counter() - t0
        return self._finish(context, current_round, aggregated, [legacy[nid] for nid in included_nids if nid in legacy])

    @staticmethod
    def _min_roster(n: int, neighbours: Optional[int], threshold: int) -> int:
        """The fewest clients whose AdvertiseKeys let a malicious-mode round go on: the
        core's lowest safe value (a sparse graph never shrinks to a complete one)."""
        if neighbours is not None and neighbours + 1 < n:
            return min(n, max(threshold, neighbours + 2))
        return threshold

    def _hello(self, replies: list[Message]) -> dict[int, str]:
        """Node id -> identity name, for the nodes whose name is in the directory, once."""
        assert self.directory is not None
        claims: dict[str, list[int]] = {}
        for msg in replies:
            nid = msg.metadata.src_node_id
            if msg.has_error():
                nid = self._dst.get(msg.metadata.reply_to_message_id, nid)
                self.last_round.failures.append(f"node {nid}: {msg.error.reason}")
                log(WARNING, "secagg.flower: node %s failed in hello: %s", nid, msg.error.reason)
                continue
            records = msg.content.config_records
            name = records[RECORD].get("name") if RECORD in records else None
            if not isinstance(name, str) or name not in self.directory:
                self.last_round.failures.append(f"node {nid}: no identity of the directory")
                log(WARNING, "secagg.flower: node %s names no identity of the directory", nid)
                continue
            claims.setdefault(name, []).append(nid)
        names = {}
        for name, nids in claims.items():
            if len(nids) > 1:
                # Two nodes claim one identity: at most one holds its key; neither runs.
                self.last_round.failures.append(f"nodes {nids}: all claim the identity {name!r}")
                log(WARNING, "secagg.flower: nodes %s all claim the identity %r", nids, name)
                continue
            names[nids[0]] = name
        return names

    def _receive(self, server: ServerSession, replies: list[Message], cid: dict[int, int], stage: str) -> set[int]:
        accepted = set()
        for msg in replies:
            nid = msg.metadata.src_node_id
            if msg.has_error():
                nid = self._dst.get(msg.metadata.reply_to_message_id, nid)
                reason = msg.error.reason
                if FLOWER_RECORD in reason:
                    reason = ("it runs Flower's own secaggplus_mod, which cannot read this workflow's "
                              f"messages: use secagg.flower.secaggplus_mod ({reason})")
                self.last_round.failures.append(f"node {nid}: {reason}")
                log(WARNING, "secagg.flower: node %s failed in %s: %s", nid, stage, reason)
                continue
            records = msg.content.config_records
            if RECORD not in records:
                why = ("it runs Flower's own secaggplus_mod: use secagg.flower.secaggplus_mod"
                       if FLOWER_RECORD in records else f"no '{RECORD}' record in its reply")
                self.last_round.failures.append(f"node {nid}: {why}")
                log(ERROR, "secagg.flower: node %s cannot take part: %s", nid, why)
                continue
            if nid not in cid:
                continue
            try:
                server.receive(cid[nid], cast(bytes, records[RECORD]["msg"]))
            except MisbehaviorError as e:
                self.last_round.failures.append(f"node {nid}: {e}")
                log(WARNING, "secagg.flower: rejected node %s in %s: %s", nid, stage, e)
                continue
            accepted.add(nid)
        return accepted

    def _finish(self, context: LegacyContext, current_round: int, aggregated: list[np.ndarray],
                results: list[tuple[ClientProxy, FitRes]]) -> bool:
        parameters = ndarrays_to_parameters(aggregated)
        for _, fitres in results:
            fitres.parameters = parameters
        failures = [Exception(f) for f in self.last_round.failures]
        log(INFO, "aggregate_fit: received %s results and %s failures", len(results), len(failures))
        parameters_aggregated, metrics_aggregated = context.strategy.aggregate_fit(
            current_round, results, failures  # type: ignore[arg-type]
        )
        if parameters_aggregated:
            context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
                parameters_aggregated, True
            )
            context.history.add_metrics_distributed_fit(server_round=current_round, metrics=metrics_aggregated)
        return True


class SecAggWorkflow(SecAggPlusWorkflow):
    """Secure aggregation on the complete graph (SecAgg), with Flower 1.42's constructor:
    ``SecAggWorkflow(reconstruction_threshold, *, max_weight, clipping_range,
    quantization_range, modulus_range, timeout)``."""

    def __init__(  # pylint: disable=R0913
        self,
        reconstruction_threshold: Union[int, float],
        *,
        max_weight: float = 1000.0,
        clipping_range: float = 8.0,
        quantization_range: int = 4194304,
        modulus_range: int = 4294967296,
        timeout: Optional[float] = None,
        **extras,
    ) -> None:
        super().__init__(
            num_shares=1.0,
            reconstruction_threshold=reconstruction_threshold,
            max_weight=max_weight,
            clipping_range=clipping_range,
            quantization_range=quantization_range,
            modulus_range=modulus_range,
            timeout=timeout,
            **extras,
        )
