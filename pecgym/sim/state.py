"""Request lifecycle codes and command codes shared by the simulator, envs and policies."""

from __future__ import annotations

from enum import IntEnum


class ReqState(IntEnum):
    """Where a request is in its life. Every request is in exactly one state."""

    PENDING = 0  # not yet arrived
    WAITING = 1  # arrived, never started
    PREFILLING = 2  # prefill running (or blocked on a swap-in)
    DECODING = 3  # producing output tokens (or blocked on a KV transfer)
    PREEMPTED = 4  # paused; see PreemptMode for where its KV cache is
    DONE = 5


class PreemptMode(IntEnum):
    """What happens to a preempted request's KV cache."""

    NONE = 0
    KEEP = 1  # stays on the GPUs (memory held; resume on the same instances, no cost)
    SWAP = 2  # copied to host memory over PCIe (memory freed; resume pays the copy back)
    RECOMPUTE = 3  # dropped (memory freed; resume prefills input + generated tokens again)


class Op(IntEnum):
    """Scheduling commands a policy may issue."""

    NOOP = 0  # let time advance to the next decision point
    START = 1  # start or resume a request on instances [lo, lo + n)
    PREEMPT = 2  # pause a running prefill or decode
    MIGRATE = 3  # move a decoding request to another instance (KV transfer)


class Reject(IntEnum):
    """Why a command was not applied (0 = applied)."""

    OK = 0
    BAD_REQUEST = 1  # index out of range, not arrived, or in the wrong state
    BAD_INSTANCES = 2  # group out of range, or a kept request resumed elsewhere
    BUSY = 3  # a target instance runs a prefill and preemption was not asked for
    NO_MEMORY = 4  # the KV cache does not fit on the target instances
    NOT_READY = 5  # a swapped request whose copy to host has not finished
    BAD_MODE = 6  # unknown op or preemption mode
    ACTED = 7  # the request (or a prefill a START would pause) had a command at this instant
    NO_BUDGET = 8  # the request's move budget (swaps, recomputes, migrations) is spent


# Plain-int aliases for the simulator's hot path (enum attribute access is slow).
PENDING, WAITING, PREFILLING, DECODING, PREEMPTED, DONE = (int(s) for s in ReqState)
OP_NOOP, OP_START, OP_PREEMPT, OP_MIGRATE = (int(op) for op in Op)
NO_PREEMPT = 0  # a START's mode: require free instances; a request's mode: not paused
KEEP, SWAP, RECOMPUTE = int(PreemptMode.KEEP), int(PreemptMode.SWAP), int(PreemptMode.RECOMPUTE)
(
    R_OK,
    R_BAD_REQUEST,
    R_BAD_INSTANCES,
    R_BUSY,
    R_NO_MEMORY,
    R_NOT_READY,
    R_BAD_MODE,
    R_ACTED,
    R_NO_BUDGET,
) = (int(r) for r in Reject)
