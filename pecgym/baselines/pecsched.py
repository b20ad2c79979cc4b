"""PecSched: preemptive, short-first scheduling of mixed short and very long inputs.

After PecSched (arXiv 2409.15104), its three techniques on top of a short-first order:

1. **Preemption.** A short prefill that finds no free prefill instance preempts a running
   long prefill (the one with the most work left), keeping its KV on its GPUs
   (``PreemptMode.KEEP``); the long prefill resumes on its own group, with its progress,
   as soon as that group runs no prefill (short work has cleared).
2. **Disaggregation and colocation.** Short requests' decodes move to dedicated short-decode
   instances (``decode_to``: a KV transfer at the end of the prefill), so short prefills do
   not share iterations with short decode batches. A long request's decode stays on the
   group that holds its KV and runs beside the short prefills placed there (colocated).
3. **Fast SP.** Long prefills use Ulysses sequence parallelism over the group their KV needs
   (``ClusterConfig.sp_tokens_per_instance`` tokens per instance): the policy asks the
   harness for ``sp_method="ulysses"`` through :attr:`PecSchedPolicy.env_overrides`.

Order of a decision (first that applies, one command per env and step): start the oldest
short request on a free prefill instance, else preempt a long prefill for it; resume a
paused long prefill whose group is free; start the oldest long request on a free group.
Short requests prefer instances without long work (no paused long prefill, no long decode).

Ablations (flags, as in the published code): ``preempt=False`` (a short prefill waits for a
free instance), ``disaggregate=False`` (no decode instances: short decodes stay where they
were prefilled, every instance prefills), ``colocate=False`` (a short prefill placed on an
instance that holds a long decode first preempts that decode, KV kept, which resumes when no
prefill runs on its group), ``fast_sp=False`` (ring attention: ``sp_method="ring"``).

Our choices where the paper is silent: the decode instances are the cluster's decode pool
(``cluster.decode_pool``: one instance per 8, the last ones); a short decode goes to the pool
instance with the most free KV cache (it stays in place when none has room for it); a long
request whose SP group is wider than the prefill instances (small clusters only) may also
use decode instances.
"""

from __future__ import annotations

import numpy as np

from pecgym.baselines.base import Heuristic
from pecgym.baselines.common import HEURISTIC_ENV, CommandBuilder, Snapshot, first_true, place
from pecgym.sim.placement import decode_pool_target
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import KEEP


class PecSchedPolicy(Heuristic):
    """PecSched with its three techniques, each of which can be switched off (ablations)."""

    def __init__(
        self,
        *,
        preempt: bool = True,
        disaggregate: bool = True,
        colocate: bool = True,
        fast_sp: bool = True,
        name: str | None = None,
    ) -> None:
        self.preempt = preempt
        self.disaggregate = disaggregate
        self.colocate = colocate
        self.fast_sp = fast_sp
        off = [
            label
            for label, on in (
                ("no-preempt", preempt),
                ("no-disagg", disaggregate),
                ("no-coloc", colocate),
                ("no-fastsp", fast_sp),
            )
            if not on
        ]
        self.name = name or "-".join(["pecsched", *off])
        sp_method = "ulysses" if fast_sp else "ring"
        self.env_overrides = {**HEURISTIC_ENV, "cluster": {"sp_method": sp_method}}

    def decoders(self, sim: ClusterSim) -> np.ndarray:
        """``(I,)`` bool: the dedicated short-decode instances (none without
        disaggregation): the cluster's decode pool."""
        num = sim.num_instances
        count = sim.config.decode_pool_size if self.disaggregate else 0
        return np.arange(num) >= num - count

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        snap, out = Snapshot(sim, envs), CommandBuilder(sim, envs)
        decoders = self.decoders(sim)
        prefill_pool = ~decoders[None, :]
        resume_decode = sim.read("resume_decode")[envs, snap.win]
        paused_prefill = snap.kept & ~resume_decode & snap.is_long
        long_decodes = snap.long_decodes()
        long_decode_on = snap.cover(long_decodes)
        paused_on = snap.cover(paused_prefill)
        avoid = paused_on | long_decode_on

        # 1. the oldest short request: a free prefill instance, else preempt a long prefill
        short = snap.oldest(~snap.is_long)
        has_short = short >= 0
        if has_short.any():
            self._start_short(sim, envs, snap, out, short, prefill_pool, avoid, long_decode_on)
        later = ~has_short
        if out.complete:
            return out.result()

        # 2. no colocation: resume paused long decodes whose group runs no prefill
        group_idle = self._group_idle(sim, envs, snap)
        if not self.colocate:
            resume = snap.oldest(snap.kept & resume_decode & snap.is_long & group_idle)
            lo, n = place(sim, envs, resume)
            out.start(later & (lo >= 0), resume, lo, n)

        # 3. resume the oldest paused long prefill whose group is free
        resume = snap.oldest(paused_prefill & group_idle)
        lo, n = place(sim, envs, resume)
        out.start(later & (lo >= 0), resume, lo, n)
        if out.complete:
            return out.result()

        # 4. the oldest long request not started yet (or restarted after an eviction), never
        # on the group of a paused one (that group is its to resume)
        long_ = snap.oldest(snap.is_long & ~snap.kept)
        # a group wider than the prefill instances (small clusters) may take decode instances
        too_big = sim.sp_degree_for(sim.read("prefill_len")[envs, np.maximum(long_, 0)]) > (
            prefill_pool.sum()
        )
        allowed = (prefill_pool | too_big[:, None]) & ~paused_on
        lo, n = place(sim, envs, long_, allowed=allowed, avoid=avoid)
        out.start(later & (lo >= 0), long_, lo, n)
        return out.result()

    def _start_short(self, sim, envs, snap, out, short, prefill_pool, avoid, long_decode_on):
        """Stage 1: start each env's oldest short request (preempting a long prefill if need be;
        without colocation, first pausing the long decode on its instance)."""
        lo, n = place(sim, envs, short, allowed=prefill_pool, avoid=avoid)
        preempting = np.zeros(envs.size, dtype=bool)
        long_prefills = snap.long_prefills()
        if self.preempt and ((lo < 0) & (short >= 0) & long_prefills.any(axis=1)).any():
            # the victim pauses the fewest instances; among those, it has the most work left
            done = sim.read("prefill_done")[envs, snap.win]
            work_left = (1.0 - done) * sim.read("prefill_work")[envs, snap.win]
            size = sim.read("group_n")[envs, snap.win]
            score = np.where(long_prefills, work_left - 1e6 * size, -np.inf)
            victim = score.argmax(axis=1)
            pick = (np.arange(score.shape[1])[None, :] == victim[:, None]) & long_prefills
            lo_p, _ = place(
                sim,
                envs,
                short,
                allowed=prefill_pool,
                busy_ok=snap.cover(pick),
                avoid=long_decode_on,
            )
            preempting = (lo < 0) & (lo_p >= 0)
            lo = np.where(preempting, lo_p, lo)
        go = lo >= 0
        if not self.colocate:
            on_target = snap.long_decodes() & self._covers(sim, envs, snap, np.maximum(lo, 0))
            decode = first_true(on_target, snap.start)
            out.preempt(go & (decode >= 0), decode, KEEP)
        if self.disaggregate:
            decode_to = decode_pool_target(sim, envs, np.maximum(short, 0))
        else:
            decode_to = np.full(envs.size, -1)
        out.start(go, short, lo, n, decode_to=decode_to, mode=np.where(preempting, KEEP, 0))

    @staticmethod
    def _covers(sim: ClusterSim, envs: np.ndarray, snap: Snapshot, inst: np.ndarray):
        """Window mask: requests whose group contains instance ``inst[row]``."""
        lo = sim.read("group_lo")[envs, snap.win]
        n = sim.read("group_n")[envs, snap.win]
        return (lo <= inst[:, None]) & (inst[:, None] < lo + n)

    @staticmethod
    def _group_idle(sim: ClusterSim, envs: np.ndarray, snap: Snapshot) -> np.ndarray:
        """Window mask: requests whose group runs no prefill now."""
        busy = np.concatenate(
            (np.zeros((envs.size, 1), dtype=np.int64), np.cumsum(snap.busy, axis=1)), axis=1
        )
        lo = sim.read("group_lo")[envs, snap.win]
        hi = np.minimum(lo + sim.read("group_n")[envs, snap.win], sim.num_instances)
        rows = np.arange(envs.size)[:, None]
        return busy[rows, hi] == busy[rows, lo]
