"""Each baseline keeps its own rule, checked at every decision while it acts through the env."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from pecgym import baselines
from pecgym.baselines import FIFOPolicy, PecSchedPolicy, ReservationPolicy
from pecgym.benchmark import Scenario
from pecgym.envs.config import EnvConfig, to_plain
from pecgym.envs.core import SchedCore
from pecgym.sim.config import ClusterConfig
from pecgym.sim.metrics import request_frame
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import KEEP, PREFILLING, Op
from pecgym.traces.spec import WorkloadSpec

# 16 instances, 160 synthetic conversation requests at 3x the trace rate, 5% of inputs made
# 100K-500K tokens long (SP groups of 2-8 instances), 20% latency-sensitive: every rule has
# something to decide (queues form, long prefills block, LS requests wait).
MIXED = WorkloadSpec(
    source="synthetic:conv", num_requests=160, rate_scale=3.0, long_fraction=0.05, ls_fraction=0.2
)
CLUSTER = {"model": "mistral-7b", "num_instances": 16}
SEEDS = (0, 1)

Check = Callable[[ClusterSim, np.ndarray, Commands], None]


def drive(name: str, check: Check, workload: WorkloadSpec = MIXED, **cluster) -> SchedCore:
    """Run policy ``name`` through the env's actions, calling ``check`` on every decision."""
    policy = baselines.get(name)
    config = EnvConfig.build(
        # no drain limit: the rules are checked until every request is done
        {"workload": to_plain(workload), "cluster": {**CLUSTER, "drain_time": None, **cluster}},
        baselines.policy_env_overrides(policy),
    )
    core = SchedCore(len(SEEDS), config)
    core.reset_envs(range(len(SEEDS)), list(SEEDS))
    sim = core.sim
    while not sim.finished.all():
        envs = np.flatnonzero(~sim.finished)
        commands = policy.decide(sim, envs)
        check(sim, envs, commands)
        actions, encoded = core.encode(commands)
        assert encoded.all(), f"{name}: a command has no action"
        result = core.step(actions)
        assert not result.invalid.any(), f"{name}: env refused an action ({result.reject.max()})"
    assert (sim.num_done == sim.num_requests).all()
    return core


def starts(commands: Commands) -> Commands:
    return commands.select(np.flatnonzero(commands.op == Op.START))


def queued_of(sim: ClusterSim, env: int, mask: np.ndarray) -> np.ndarray:
    """Indices of env ``env``'s queued requests where ``mask`` (a full request row) holds."""
    return np.flatnonzero(sim.queued()[env] & mask)


def test_fifo_never_lets_a_later_request_start_first() -> None:
    def check(sim, envs, commands):
        for env, req in zip(*(starts(commands).env, starts(commands).req), strict=True):
            assert req == queued_of(sim, env, np.ones(sim.num_requests_max, bool)).min()

    core = drive("fifo", check)
    # on one instance the admissions keep that order too (on several, a later request may
    # join an idle instance before an earlier one's iteration boundary elsewhere)
    load = WorkloadSpec(num_requests=60, rate_scale=3.0).build(0)
    sim = replay(ClusterSim(ClusterConfig(num_instances=1), [load]), FIFOPolicy().decide)
    frame = request_frame(sim).sort_values("arrival", kind="stable")
    assert frame["t_start"].is_monotonic_increasing and (frame["queueing_delay"] > 0).any()
    assert core.sim.num_done.sum() > 0


def test_priority_never_starts_a_long_request_while_a_short_one_waits() -> None:
    seen = {"long": 0}

    def check(sim, envs, commands):
        s = starts(commands)
        for env, req in zip(s.env, s.req, strict=True):
            if sim.is_long[env, req]:
                seen["long"] += 1
                assert not queued_of(sim, env, ~sim.is_long[env]).size
            else:  # and shorts go oldest first
                assert req == queued_of(sim, env, ~sim.is_long[env]).min()
        assert not (commands.op == Op.PREEMPT).any() and not commands.mode.any()

    drive("priority", check)
    assert seen["long"] > 0


def test_sjf_starts_the_shortest_prompt() -> None:
    def check(sim, envs, commands):
        s = starts(commands)
        for env, req in zip(s.env, s.req, strict=True):
            waiting = queued_of(sim, env, np.ones(sim.num_requests_max, bool))
            assert sim.prefill_len[env, req] == sim.prefill_len[env, waiting].min()

    drive("sjf", check)


def test_reservation_keeps_each_class_in_its_pool() -> None:
    policy = ReservationPolicy()
    counts = {"long": 0, "short": 0}

    def check(sim, envs, commands):
        first_reserved = sim.num_instances - policy.pool_size(sim)
        s = starts(commands)
        for env, req, lo, n in zip(s.env, s.req, s.lo, s.n, strict=True):
            if sim.is_long[env, req]:
                counts["long"] += 1
                assert lo >= first_reserved
            else:
                counts["short"] += 1
                assert lo + n <= first_reserved

    core = drive("reservation", check)
    assert policy.pool_size(core.sim) == 8  # a 500K-token prompt at 64K tokens per instance
    assert counts["long"] and counts["short"]


def test_pecsched_moves_short_decodes_to_decode_instances_and_preempts_long_prefills() -> None:
    policy = PecSchedPolicy()
    seen = {"preempting": 0, "short": 0}

    def check(sim, envs, commands):
        decoders = int(np.argmax(policy.decoders(sim)))  # the first decode instance
        s = starts(commands)
        for env, req, lo, target, mode in zip(s.env, s.req, s.lo, s.decode_to, s.mode, strict=True):
            assert lo < decoders  # prefills never run on decode instances
            if sim.is_long[env, req]:
                assert target == -1  # a long decode stays with its KV
            else:
                seen["short"] += 1
                assert target >= decoders
            if mode == KEEP:  # a short prefill preempting: only long prefills are displaced
                seen["preempting"] += 1
                victim = sim.prefill_req[env, lo]
                assert not sim.is_long[env, req] and sim.is_long[env, victim]
                assert sim.state[env, victim] == PREFILLING

    core = drive("pecsched", check, workload=replace(MIXED, rate_scale=6.0))
    sim = core.sim
    assert policy.decoders(core.sim).sum() == 2 == core.config.cluster.decode_pool_size
    assert seen["short"] and seen["preempting"]
    short = ~sim.is_long & sim.exists
    decoded_there = sim.group_lo[short] >= 14
    assert decoded_there.mean() > 0.95  # short decodes ended on the decode instances
    assert sim.decode_preemptions.sum() == 0  # long decodes are never preempted (colocation)


def test_pecsched_without_colocation_pauses_long_decodes_and_resumes_them() -> None:
    def check(sim, envs, commands):
        pre = commands.select(np.flatnonzero(commands.op == Op.PREEMPT))
        for env, req in zip(pre.env, pre.req, strict=True):
            assert sim.is_long[env, req]

    core = drive("pecsched-no-coloc", check, workload=replace(MIXED, rate_scale=6.0))
    assert core.sim.decode_preemptions.sum() > 0


def test_qllm_starts_latency_sensitive_requests_first() -> None:
    seen = {"be": 0, "parked": 0}

    def check(sim, envs, commands):
        s = starts(commands)
        for env, req, mode in zip(s.env, s.req, s.mode, strict=True):
            ls = sim.latency_sensitive[env]
            if not ls[req]:
                seen["be"] += 1
                assert not queued_of(sim, env, ls).size
            elif mode == KEEP:
                seen["parked"] += 1

    drive(
        "qllm",
        check,
        workload=replace(MIXED, long_fraction=None),
        num_instances=1,
        model="mixtral-8x7b",
        tp=2,
    )
    assert seen["be"] and seen["parked"]


@pytest.mark.parametrize(
    ("name", "sp_method"),
    [("pecsched", "ulysses"), ("pecsched-no-fastsp", "ring"), ("fifo", "ring")],
)
def test_policies_declare_their_sequence_parallelism(name: str, sp_method: str) -> None:
    config = EnvConfig.build({"cluster": {**CLUSTER, "sp_method": "ring"}})
    scenario = Scenario("sp", config)
    assert scenario.env_config(baselines.get(name)).cluster.sp_method == sp_method
