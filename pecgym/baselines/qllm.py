"""QLLM-style scheduling of latency-sensitive (LS) and best-effort (BE) requests.

After QLLM (arXiv 2503.09304): four FIFO queues (LS-prefill, LS-decode, BE-prefill,
BE-decode), LS first, BE fills what is left. When an LS request waits and every instance runs
a BE prefill, one BE prefill is parked with its progress kept (``PreemptMode.KEEP``, no
recompute) and the LS prefill takes its instance; the BE prefill resumes in place once no LS
work needs the slot. QLLM parks at expert/layer granularity, so the LS request waits about
one layer; the simulator switches at once, which understates LS TTFT by that one layer
(~1-3 ms against a 3 s SLO). In the simulator every decode on an instance joins its batch,
so the two decode queues are the batch itself (the batch has no size cap besides KV memory).
"""

from __future__ import annotations

import numpy as np

from pecgym.baselines.base import Heuristic
from pecgym.baselines.common import HEURISTIC_ENV, CommandBuilder, Snapshot, place
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import KEEP


class QLLMPolicy(Heuristic):
    """LS before BE, BE prefills parked (KV kept) for waiting LS requests."""

    name = "qllm"
    env_overrides = HEURISTIC_ENV

    def __init__(self, preempt: bool = True) -> None:
        self.preempt = preempt

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        snap, out = Snapshot(sim, envs), CommandBuilder(sim, envs)
        ls = snap.oldest(snap.ls)
        has_ls = ls >= 0
        lo, n = place(sim, envs, ls)
        out.start(has_ls & (lo >= 0), ls, lo, n)
        if self.preempt:
            rows = envs[:, None]
            running_ls = sim.read("latency_sensitive")[rows, np.maximum(snap.prefill_req, 0)]
            be_busy = snap.busy & ~running_ls
            lo, n = place(sim, envs, ls, busy_ok=be_busy)
            out.start(has_ls & (lo >= 0), ls, lo, n, mode=KEEP)
        be = snap.oldest(~snap.ls)
        lo, n = place(sim, envs, be)
        out.start(~has_ls & (be >= 0) & (lo >= 0), be, lo, n)
        return out.result()
