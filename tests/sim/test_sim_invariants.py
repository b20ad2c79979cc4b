"""Property tests: random command sequences never break the simulator's invariants.

Hypothesis builds small clusters (1-4 envs of 2-6 instances, some with little KV memory so
that caches fill and long inputs need sequence-parallel groups) and drives them with random
commands (valid and invalid: out-of-range indices, wrong states, unknown ops and modes),
interleaved with ``advance`` calls and FIFO decisions. After every step the whole state is
checked; at the end FIFO runs every env to completion.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pecgym.baselines import FIFOPolicy
from pecgym.sim.config import ClusterConfig
from pecgym.sim.metrics import summarize
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import Op, PreemptMode, Reject, ReqState
from pecgym.traces.workload import Workload

PENDING, WAITING, PREFILLING, DECODING, PREEMPTED, DONE = (int(s) for s in ReqState)
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def make_config(
    num_instances: int,
    memory_utilization: float,
    decision_interval: float | None,
    horizon: float | None,
) -> ClusterConfig:
    return ClusterConfig(
        num_instances=num_instances,
        memory_utilization=memory_utilization,
        decision_interval=decision_interval,
        horizon=horizon,
    )


def random_workload(seed: int, num_requests: int, config: ClusterConfig) -> Workload:
    """Short requests plus ~15% long ones (up to 120K tokens or 70% of the cluster's KV)."""
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(0.2, num_requests))
    arrival -= arrival[0] * rng.integers(0, 2)  # sometimes the first request arrives at 0
    inputs = rng.integers(1, 4001, num_requests)
    long_cap = min(int(0.7 * config.kv_capacity * config.num_instances), 120_000)
    is_long = rng.random(num_requests) < 0.15
    inputs[is_long] = rng.integers(4097, max(long_cap, 4098), is_long.sum())
    outputs = rng.integers(1, 301, num_requests)
    return Workload(arrival, inputs, outputs, name=f"random-{seed}")


@st.composite
def scenarios(draw) -> ClusterSim:
    config = make_config(
        draw(st.integers(2, 6)),
        draw(st.sampled_from([0.9, 0.3, 0.25])),
        draw(st.sampled_from([None, None, 0.5])),
        draw(st.sampled_from([None, None, 20.0])),
    )
    num_envs = draw(st.integers(1, 4))
    workloads = [
        random_workload(draw(st.integers(0, 2**32 - 1)), draw(st.integers(5, 40)), config)
        for _ in range(num_envs)
    ]
    return ClusterSim(config, workloads)


# ------------------------------------------------------------------------- invariants
def env_arrays(sim: ClusterSim) -> dict[str, np.ndarray]:
    """Copies of every state array with a leading env axis (everything a command may touch)."""
    return {
        name: value.copy()
        for name, value in vars(sim).items()
        if isinstance(value, np.ndarray)
        and not name.startswith("_")
        and value.ndim >= 1
        and value.shape[0] == sim.num_envs
    }


def kv_used_from_scratch(sim: ClusterSim) -> np.ndarray:
    used = np.zeros((sim.num_envs, sim.num_instances))
    for env in range(sim.num_envs):
        for req in np.flatnonzero(sim.kv_tokens[env] > 0):
            lo, n = sim.group_lo[env, req], sim.group_n[env, req]
            used[env, lo : lo + n] += sim.kv_tokens[env, req] / n
    return used


def check_invariants(sim: ClusterSim, previous_clock: np.ndarray) -> None:
    cap = sim.kv_capacity
    assert np.all(sim.clock >= previous_clock), "a clock went backwards"
    assert np.all(np.isfinite(sim.clock))
    used = sim.kv_used()
    assert np.all(used <= cap * (1 + 1e-9)), f"KV over capacity: {used.max()} > {cap}"
    np.testing.assert_allclose(used, kv_used_from_scratch(sim), rtol=1e-9, atol=1e-6)
    for env in range(sim.num_envs):
        n = int(sim.num_requests[env])
        clock = sim.clock[env]
        state = sim.state[env, :n]
        assert np.all((state >= PENDING) & (state <= DONE))
        assert np.all(sim.state[env, n:] == PENDING), "padding rows must stay pending"
        counts = sim.state_counts(env)
        assert sum(counts.values()) == n
        assert counts["done"] == sim.num_done[env]
        arrival = sim.arrival[env, :n]
        pending = state == PENDING
        assert np.all(arrival[pending] > clock), "a request due by now has not arrived"
        assert np.all(arrival[~pending] <= clock * (1 + 1e-9) + 1e-9)
        # arrivals happen in order, and the live window covers every live request
        next_arrival, first_live = int(sim.next_arrival[env]), int(sim.first_live[env])
        assert np.all(state[:next_arrival] != PENDING)
        assert np.all(state[next_arrival:] == PENDING)
        assert np.all(state[:first_live] == DONE)

        generated, output = sim.generated[env, :n], sim.output_tokens[env, :n]
        assert np.all(generated >= 0)
        assert np.all(generated <= output * (1 + 1e-12))
        kv = sim.kv_tokens[env, :n]
        assert np.all(kv >= 0)
        assert np.all(kv[pending | (state == WAITING) | (state == DONE)] == 0)
        running = (state == PREFILLING) | (state == DECODING)
        assert np.all(kv[running] > 0), "a running request holds no KV"
        # groups of running requests lie inside the cluster
        lo, size = sim.group_lo[env, :n], sim.group_n[env, :n]
        assert np.all((lo[running] >= 0) & (size[running] >= 1))
        assert np.all(lo[running] + size[running] <= sim.num_instances)

        # timestamps
        t_start, t_first, t_finish = (
            sim.t_start[env, :n],
            sim.t_first_token[env, :n],
            sim.t_finish[env, :n],
        )
        never_started = pending | (state == WAITING)
        assert np.all(np.isnan(t_start[never_started]))
        assert np.all(np.isfinite(t_start[~never_started]))
        assert np.all(t_start[~never_started] >= arrival[~never_started] - 1e-9)
        # a start is admitted at the end of the running iteration: up to its ready time
        admitted_by = np.maximum(clock, sim.ready_at[env, :n])
        assert np.all(t_start[~never_started] <= admitted_by[~never_started] + 1e-9)
        assert np.all(np.isfinite(t_first[state == DECODING]))
        assert np.all(generated[state == DECODING] >= 1)
        done = state == DONE
        assert np.all(generated[done] == output[done])
        assert np.all(np.isfinite(t_finish[done]))
        assert np.all(np.isnan(t_finish[~done]))
        assert np.all(t_finish[done] >= t_first[done])
        assert np.all(t_first[done] >= t_start[done])
        assert np.all(t_start[done] >= arrival[done] - 1e-9)
        assert np.all(t_finish[done] <= clock)

        # prefill slots: an instance's slot names a prefilling request whose group holds it,
        # and every prefilling request holds the slots of its whole group
        slots = sim.prefill_req[env]
        for inst in np.flatnonzero(slots >= 0):
            req = slots[inst]
            assert 0 <= req < n
            assert state[req] == PREFILLING, f"slot of instance {inst} names a non-prefill"
            assert lo[req] <= inst < lo[req] + size[req]
        for req in np.flatnonzero(state == PREFILLING):
            assert np.all(slots[lo[req] : lo[req] + size[req]] == req)
        assert np.count_nonzero(slots >= 0) == size[state == PREFILLING].sum()

        # where a preempted request's KV is
        preempted = state == PREEMPTED
        modes = sim.preempt_mode[env, :n]
        assert np.all(np.isin(modes[preempted], [int(m) for m in PreemptMode if m]))
        assert np.all(kv[preempted & (modes != PreemptMode.KEEP)] == 0)
        assert np.all(sim.kv_host[env, :n][~(preempted & (modes == PreemptMode.SWAP))] == 0)


# ------------------------------------------------------------------------ random steps
OPS = [int(Op.NOOP), int(Op.START), int(Op.PREEMPT), int(Op.MIGRATE), -1, 4]
OP_INDEX = st.sampled_from([1, 1, 1, 1, 2, 2, 2, 3, 3, 0, 4, 5])  # mostly START/PREEMPT
MODES = st.sampled_from([0, 0, 1, 1, 2, 2, 3, 3, -1, 4])  # incl. NONE and unknown ones


def usually(data, valid, invalid):
    """Draw from ``valid`` four times in five, otherwise from ``invalid``."""
    return data.draw(valid if data.draw(st.integers(0, 4)) else invalid)


def draw_commands(data, sim: ClusterSim) -> Commands:
    envs = data.draw(st.permutations(range(sim.num_envs)))
    envs = np.asarray(envs[: data.draw(st.integers(1, sim.num_envs))], dtype=np.int64)
    num = sim.num_instances
    rows = {field: [] for field in ("op", "req", "lo", "n", "decode_to", "mode")}
    for env in envs:
        op = OPS[data.draw(OP_INDEX)]
        n_req = int(sim.num_requests[env])
        state = sim.state[env, :n_req]
        if op == Op.START:
            pool = np.flatnonzero(sim.queued()[env, :n_req])
        elif op == Op.PREEMPT:
            pool = np.flatnonzero((state == PREFILLING) | (state == DECODING))
        else:
            pool = np.flatnonzero(state == DECODING)
        if pool.size and data.draw(st.integers(0, 4)):
            req = int(pool[data.draw(st.integers(0, pool.size - 1))])
        else:
            req = data.draw(st.integers(-2, n_req + 2))
        if op == Op.START and 0 <= req < n_req and data.draw(st.booleans()):
            size = int(sim.sp_degree_for(sim.prefill_len[env, req]))
            if sim.state[env, req] == PREEMPTED and data.draw(st.booleans()):
                size = int(sim.group_n[env, req])  # where a kept request must resume
        else:
            size = usually(data, st.integers(1, num), st.sampled_from([0, num + 1]))
        if op == Op.PREEMPT:
            mode = usually(data, st.sampled_from([1, 2, 3]), MODES)
        else:
            mode = data.draw(MODES)
        rows["op"].append(op)
        rows["req"].append(req)
        rows["lo"].append(
            usually(data, st.integers(0, max(num - size, 0)), st.sampled_from([-1, num]))
        )
        rows["n"].append(size)
        rows["decode_to"].append(data.draw(st.sampled_from([-1, -1, -2, *range(num + 1)])))
        rows["mode"].append(mode)
    return Commands(env=envs, **{k: np.asarray(v, dtype=np.int64) for k, v in rows.items()})


def apply_and_check_rejections(sim: ClusterSim, commands: Commands) -> None:
    before = env_arrays(sim)
    reasons = sim.apply(commands)
    assert reasons.shape == commands.env.shape
    assert np.all(np.isin(reasons, [int(r) for r in Reject]))
    # unknown ops and NOOPs: nothing to apply; rejected commands: nothing changed
    unchanged = commands.env[(reasons != Reject.OK) | (commands.op == Op.NOOP)]
    after = env_arrays(sim)
    for name, old in before.items():
        assert np.array_equal(old[unchanged], after[name][unchanged], equal_nan=True), (
            f"a rejected command changed {name}"
        )
    assert np.all(reasons[(commands.op < 0) | (commands.op > Op.MIGRATE)] == Reject.BAD_MODE)


def fifo_step(sim: ClusterSim) -> None:
    deciding = np.flatnonzero(sim.at_decision & ~sim.finished)
    if deciding.size:
        sim.apply(FIFOPolicy().decide(sim, deciding))


def check_final(sim: ClusterSim) -> None:
    assert sim.done
    for env in range(sim.num_envs):
        summary = summarize(sim, env)
        n = int(sim.num_requests[env])
        assert summary["requests"] == n
        assert summary["unfinished"] + summary["completed"] + summary["not_arrived"] == n
        if not (sim.stalled[env] or sim.truncated[env]):
            assert summary["completed"] == n
            assert np.all(sim.state[env, :n] == DONE)
            assert np.all(sim.kv_used()[env] == 0)
            assert np.all(sim.prefill_req[env] == -1)
        if sim.stalled[env]:
            # nothing can happen any more: nothing runs and nothing is left to arrive
            state = sim.state[env, :n]
            assert not np.any((state == PREFILLING) | (state == DECODING) | (state == PENDING))
            assert summary["unfinished"] > 0
        if sim.truncated[env]:
            assert sim.stalled[env] or sim.clock[env] == sim.horizon_at[env]
            assert summary["completed"] < n


def run_fifo_checked(sim: ClusterSim) -> None:
    """:func:`pecgym.sim.replay.replay` with FIFO, checking the invariants after every step."""
    previous = sim.clock.copy()
    sim.advance()
    while not sim.done:
        check_invariants(sim, previous)
        previous = sim.clock.copy()
        deciding = np.flatnonzero(sim.at_decision & ~sim.finished)
        if deciding.size:
            commands = FIFOPolicy().decide(sim, deciding)
            rejected = sim.apply(commands)
            assert np.all(rejected == Reject.OK), "FIFO issued an invalid command"
            check_invariants(sim, previous)
            idle = commands.op == Op.NOOP
            sim.advance(commands.env[idle | ~sim.at_decision[commands.env]])
        else:
            sim.advance(~sim.finished)
    check_invariants(sim, previous)


@settings(SETTINGS, max_examples=100)
@given(sim=scenarios(), data=st.data())
def test_random_commands_keep_invariants(sim: ClusterSim, data) -> None:
    sim.advance()
    clock = np.zeros(sim.num_envs)
    check_invariants(sim, clock)
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        clock = sim.clock.copy()
        kind = data.draw(st.sampled_from(["apply", "apply", "advance", "fifo"]))
        if kind == "apply":
            apply_and_check_rejections(sim, draw_commands(data, sim))
        elif kind == "advance":
            mask = data.draw(st.lists(st.booleans(), min_size=sim.num_envs, max_size=sim.num_envs))
            sim.advance(np.asarray(mask))
        else:
            fifo_step(sim)
        check_invariants(sim, clock)
    run_fifo_checked(sim)
    check_final(sim)


@settings(SETTINGS, max_examples=50)
@given(sim=scenarios())
def test_fifo_alone_finishes_every_request(sim: ClusterSim) -> None:
    """FIFO from a fresh start never stalls and, without a horizon, finishes everything."""
    run_fifo_checked(sim)
    assert not sim.stalled.any()
    check_final(sim)
