"""An in-process Flower "deployment" for tests and benchmarks: no Ray, no sockets.

:class:`InProcessGrid` is a Flower ``Grid`` whose ``send_and_receive`` delivers each message
to a ``ClientApp`` in the same process, exactly as a SuperNode would: the ``Message`` and the
node's ``Context`` both make a protobuf round trip (``message_to_proto`` /
``context_from_proto``) on every call, so state kept in process memory is lost between
messages, as it is in deployment (a fresh ``flwr-clientapp`` process per message). An
exception raised by the ClientApp becomes an error reply, as ``flwr-clientapp`` makes it.

Dropouts: ``drop(stage, node_id)`` is asked before every delivery; a node for which it
returns true is gone from then on (no reply, like a killed SuperNode), ``stage`` counting the
``send_and_receive`` calls of the run from 0.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from typing import Optional
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.common.serde import (
    context_from_proto,
    context_to_proto,
    message_from_proto,
    message_to_proto,
)
from flwr.serverapp.grid import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity
from flwr.common.constant import SUPERLINK_NODE_ID

__all__ = ["InProcessGrid"]


def _round_trip(message: Message) -> Message:
    return message_from_proto(message_to_proto(message))


class InProcessGrid(Grid):
    """A ``Grid`` of ``num_nodes`` SuperNodes running ``client_app`` in this process."""

    def __init__(
        self,
        client_app: Callable[[Message, Context], Message],
        num_nodes: int,
        *,
        node_config: Optional[Callable[[int], dict]] = None,
        drop: Optional[Callable[[int, int], bool]] = None,
        seed: int = 0,
        run_id: int = 1,
    ) -> None:
        rng = random.Random(seed)
        # What a ServerApp process knows about itself (Message() reads it).
        TaskIdentity.run_id = run_id
        TaskIdentity.node_id = SUPERLINK_NODE_ID
        TaskIdentity.task_id = 0
        self.client_app = client_app
        self.node_ids = sorted(rng.getrandbits(63) | 1 for _ in range(num_nodes))
        self.partition = {nid: i for i, nid in enumerate(self.node_ids)}
        self.drop = drop
        self.dead: set[int] = set()
        self.stage = 0
        self._run = Run.create_empty(run_id)
        self.contexts: dict[int, bytes] = {}
        for i, nid in enumerate(self.node_ids):
            cfg = node_config(i) if node_config else {"partition-id": i, "num-partitions": num_nodes}
            ctx = Context(run_id=run_id, node_id=nid, node_config=cfg, state=RecordDict(), run_config={})
            self.contexts[nid] = context_to_proto(ctx).SerializeToString()
        # Seconds spent inside the ClientApp per node (wall clock, and this process's CPU
        # time, all threads), and bytes each way per node.
        self.client_seconds: dict[int, float] = {nid: 0.0 for nid in self.node_ids}
        self.client_cpu_seconds: dict[int, float] = {nid: 0.0 for nid in self.node_ids}
        self.bytes_up: dict[int, int] = {nid: 0 for nid in self.node_ids}
        self.bytes_down: dict[int, int] = {nid: 0 for nid in self.node_ids}
        # The reasons of the error replies, in order.
        self.errors: list[str] = []

    # Grid interface ------------------------------------------------------------------
    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.node_ids)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError("InProcessGrid delivers through send_and_receive only")

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError("InProcessGrid delivers through send_and_receive only")

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: Optional[float] = None
    ) -> Iterable[Message]:
        stage, self.stage = self.stage, self.stage + 1
        replies = []
        for message in messages:
            nid = message.metadata.dst_node_id
            if nid in self.dead or (self.drop is not None and self.drop(stage, nid)):
                self.dead.add(nid)
                continue
            message.metadata.__dict__["_message_id"] = str(uuid4())
            wire = message_to_proto(message).SerializeToString()
            self.bytes_down[nid] += len(wire)
            reply = self._deliver(nid, wire)
            reply_wire = message_to_proto(reply).SerializeToString()
            self.bytes_up[nid] += len(reply_wire)
            replies.append(_round_trip(reply))
        return replies

    # The SuperNode side ---------------------------------------------------------------
    def context(self, nid: int) -> Context:
        """The node's context as stored between messages."""
        from flwr.proto.message_pb2 import Context as ProtoContext  # noqa: PLC0415

        proto = ProtoContext()
        proto.ParseFromString(self.contexts[nid])
        return context_from_proto(proto)

    def _deliver(self, nid: int, wire: bytes) -> Message:
        from flwr.proto.message_pb2 import Message as ProtoMessage  # noqa: PLC0415

        proto = ProtoMessage()
        proto.ParseFromString(wire)
        message = message_from_proto(proto)
        context = self.context(nid)
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            reply = self.client_app(message, context)
        except Exception as ex:  # noqa: BLE001 - what flwr-clientapp does
            reason = str(type(ex)) + ":<'" + str(ex) + "'>"
            reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)
            self.errors.append(reason)
        else:
            # Only a successful run updates the node's state, as in deployment.
            self.contexts[nid] = context_to_proto(context).SerializeToString()
        self.client_seconds[nid] += time.perf_counter() - start
        self.client_cpu_seconds[nid] += time.process_time() - cpu_start
        return reply
