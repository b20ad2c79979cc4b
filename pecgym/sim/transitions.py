"""State changes shared by the event clock and the commands: KV bookkeeping, completion,
preemption and decode moves.
"""

from __future__ import annotations

import numpy as np

from pecgym.sim.cluster_state import EPS, ClusterState
from pecgym.sim.groups import (
    group_cells,
    group_members,
    nonzero2d,
)
from pecgym.sim.state import (
    DONE,
    PREEMPTED,
    PREFILLING,
    RECOMPUTE,
    SWAP,
)


class Transitions(ClusterState):
    """The request transitions both time and commands make."""

    def prefill_share(self, iteration: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """Per instance, the share of its solo speed a prefill gets: all of it alone, one
        chunk per iteration beside a decode batch (``iteration``: that iteration's time)."""
        return np.where(batch > 0, self._solo_chunk_time / np.maximum(iteration, EPS), 1.0)

    def _kv_shift(self, env, req, tokens, sign: float) -> None:
        """Add (``sign`` +1) or remove (-1) requests' KV on their groups.

        Usage is a running sum, never recomputed: each env's row starts at exactly 0 on
        ``load`` and sees the same updates in the same order whether it runs alone or in a
        batch, so batched and single runs stay bit-for-bit equal.
        """
        held = tokens > 0
        if not held.all():
            if not held.any():
                return
            env, req, tokens = env[held], req[held], tokens[held]
        n = self.group_n[env, req]
        self._add_kv(env, self.group_lo[env, req], n, sign * tokens / n)

    def _add_kv(self, env, lo, n, per_instance) -> None:
        """Add ``per_instance`` KV tokens to every instance of each group, in item order."""
        item, cells = group_cells(env, lo, n, self.num_instances)
        if item is not None:
            per_instance = per_instance[item]
        np.add.at(self._kv_used.reshape(-1), cells, per_instance)
        self._kv_views = None

    def _release_prefill_slots(self, env, lo, n) -> None:
        rows, inst = nonzero2d(group_members(lo, n, self.num_instances))
        self.prefill_req[env[rows], inst] = -1

    def _complete(self, env, req) -> None:
        if not env.size:
            return
        self.state[env, req] = DONE
        self.generated[env, req] = self.output_tokens[env, req]
        self.t_finish[env, req] = self.clock[env]
        self._kv_shift(env, req, self.kv_tokens[env, req], -1.0)
        self.kv_tokens[env, req] = 0.0
        np.add.at(self.num_done, env, 1)
        if (req == self.first_live[env]).any():
            self._update_first_live()

    def _update_first_live(self) -> None:
        win = self.window()
        live = (self.state[:, win] != DONE) & self.exists[:, win]
        any_live = live.any(axis=1)
        first = np.where(any_live, live.argmax(axis=1) + win.start, self.next_arrival)
        self.first_live[:] = np.maximum(self.first_live, np.minimum(first, self.next_arrival))

    def _preempt(self, env, req, mode, count: bool) -> None:
        """Pause running requests; ``mode`` says where their KV cache goes."""
        if not env.size:
            return
        now = self.clock[env]
        prefilling = self.state[env, req] == PREFILLING
        pf = np.flatnonzero(prefilling)
        self._release_prefill_slots(
            env[pf], self.group_lo[env[pf], req[pf]], self.group_n[env[pf], req[pf]]
        )
        if count:
            self.prefill_preemptions[env[pf], req[pf]] += 1
            self.decode_preemptions[env[~prefilling], req[~prefilling]] += 1
        self.state[env, req] = PREEMPTED
        self.preempt_mode[env, req] = mode
        self.resume_decode[env, req] = ~prefilling
        # tokens actually computed so far (prefill progress is tracked as a work fraction)
        computed = np.where(
            prefilling,
            self.prefill_done[env, req] * self.prefill_len[env, req],
            self.kv_tokens[env, req],
        )
        swap = mode == SWAP
        self.kv_host[env, req] = np.where(swap, computed, 0.0)
        self.swap_ready[env, req] = 0.0
        if swap.any():
            self.swap_ready[env[swap], req[swap]] = now[swap] + self.cost.swap_time(computed[swap])
        recompute = mode == RECOMPUTE
        generated = np.floor(self.generated[env, req])
        self.generated[env, req] = np.where(recompute, generated, self.generated[env, req])
        self.prefill_len[env, req] = np.where(
            recompute & ~prefilling,
            self.input_tokens[env, req] + generated.astype(np.int64),
            self.prefill_len[env, req],
        )
        self.prefill_done[env, req] = np.where(recompute, 0.0, self.prefill_done[env, req])
        self.resume_decode[env, req] &= ~recompute
        freed = swap | recompute
        self._kv_shift(env[freed], req[freed], self.kv_tokens[env[freed], req[freed]], -1.0)
        self.kv_tokens[env, req] = np.where(freed, 0.0, self.kv_tokens[env, req])

    def _move_decodes(self, env, req, target) -> np.ndarray:
        """Move decoding requests' KV to ``target`` instances; returns which moved."""
        kv = self.kv_tokens[env, req]
        fits = self.kv_free()[env, target] >= kv
        if env.size > 1 and (env[1:] == env[:-1]).any():
            # two moves to one instance at once: only the first is checked against its room
            _, first = np.unique(env * self.num_instances + target, return_index=True)
            unique = np.zeros(env.size, dtype=bool)
            unique[first] = True
            fits &= unique
        if not fits.all():
            env, req, target, kv = env[fits], req[fits], target[fits], kv[fits]
        node = self.config.instances_per_node
        lo, n = self.group_lo[env, req], self.group_n[env, req]
        delay = self.cost.kv_transfer_time(kv, cross_node=(lo // node) != (target // node))
        # the KV leaves its group and lands on the target, in one update
        self._add_kv(
            np.concatenate((env, env)),
            np.concatenate((lo, target)),
            np.concatenate((n, np.ones_like(n))),
            np.concatenate((-kv / n, kv)),
        )
        self.group_lo[env, req] = target
        self.group_n[env, req] = 1
        # a transfer still under way finishes first (chained moves cannot skip it)
        self.ready_at[env, req] = np.maximum(self.clock[env], self.ready_at[env, req]) + delay
        self.migrations[env, req] += 1
        return fits
