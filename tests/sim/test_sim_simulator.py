"""Unit tests of the simulator's model: timings against the cost model, batching, SP,
preemption modes, KV transfers, eviction, command validation, configuration errors and
episode endings."""

from __future__ import annotations

import numpy as np
import pytest

from pecgym.baselines import FIFOPolicy
from pecgym.sim.config import ClusterConfig, ConfigError
from pecgym.sim.metrics import request_frame, summarize
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import Op, PreemptMode, Reject, ReqState
from pecgym.traces.workload import Workload

KEEP, SWAP, RECOMPUTE = PreemptMode.KEEP, PreemptMode.SWAP, PreemptMode.RECOMPUTE
REL = 1e-9  # exact in the model; only float rounding


def workload(*rows: tuple[float, int, int], name: str = "hand") -> Workload:
    """A workload from ``(arrival, input_tokens, output_tokens)`` rows."""
    arrival, inputs, outputs = (np.asarray(col) for col in zip(*rows, strict=True))
    return Workload(arrival, inputs, outputs, name=name)


def make_sim(*rows: tuple[float, int, int], **config) -> ClusterSim:
    """One env; decisions at events only (no decision-gap ticks), so segment boundaries and
    the model's timings are exactly the ones computed below."""
    config.setdefault("num_instances", 1)
    config.setdefault("max_decision_gap", None)
    return ClusterSim(ClusterConfig(**config), [workload(*rows)])


def command(sim: ClusterSim, op: Op, req: int, lo: int = 0, n: int = 1, **kw) -> int:
    """Apply one command to env 0; returns its Reject code."""
    cmd = Commands.empty(1)
    cmd.op[0], cmd.req[0], cmd.lo[0], cmd.n[0] = op, req, lo, n
    cmd.decode_to[0] = kw.get("decode_to", -1)
    cmd.mode[0] = kw.get("mode", 0)
    return int(sim.apply(cmd)[0])


def start(sim: ClusterSim, req: int, lo: int = 0, n: int = 1, **kw) -> None:
    assert command(sim, Op.START, req, lo, n, **kw) == Reject.OK


def run_out(sim: ClusterSim) -> None:
    """Let time run without scheduling anything more, until the episode ends."""
    while not sim.done:
        sim.advance()


def frame(sim: ClusterSim):
    return request_frame(sim, 0)


def decode_time(cost, tokens_in: int, output: int) -> float:
    """The model's decode phase of a lone request: rates are fixed between events, so every
    step costs what it costs at the context the decode starts with."""
    return (output - 1) * cost.decode_step_time(1, tokens_in)


# ------------------------------------------------------------------ one request alone
def test_lone_request_timings_match_cost_model() -> None:
    sim = make_sim((0.5, 1000, 300))
    replay(sim, FIFOPolicy().decide)
    row = frame(sim).loc[0]
    cost = sim.cost
    assert row["queueing_delay"] == 0.0
    assert row["ttft"] == pytest.approx(cost.prefill_time(1000), rel=REL)
    expected_jct = row["ttft"] + decode_time(cost, 1000, 300)
    assert row["jct"] == pytest.approx(expected_jct, rel=REL)
    # a per-token sum with the context growing token by token is within 1%
    steps = cost.decode_step_time(np.ones(299), 1000 + np.arange(1, 300))
    assert row["jct"] == pytest.approx(row["ttft"] + steps.sum(), rel=0.01)
    assert row["tbt"] == pytest.approx(cost.decode_step_time(1, 1000), rel=REL)
    assert row["t_finish"] == pytest.approx(0.5 + expected_jct, rel=REL)


def test_chunked_prefill_alone_takes_one_iteration_per_chunk() -> None:
    """With ``chunked_prefill`` a lone prompt goes 512 tokens per iteration, each chunk
    attending to the ones before it (Sarathi); the default is one pass, which is faster."""
    sim = make_sim((0.0, 1020, 50), chunked_prefill=True)
    replay(sim, FIFOPolicy().decide)
    cost = sim.cost
    chunks = cost.iteration_time(512, 0, 0) + cost.iteration_time(508, 0, 0, prefill_context=512)
    assert frame(sim).loc[0, "ttft"] == pytest.approx(chunks, rel=REL)
    assert cost.prefill_time(1020) < 0.95 * chunks
    # a prompt of one chunk or less is one iteration either way; SP groups are one pass
    assert cost.chunked_prefill_time(300) == cost.iteration_time(300, 0, 0)
    long = make_sim((0.0, 200_000, 5), num_instances=4, chunked_prefill=True)
    replay(long, FIFOPolicy().decide)
    row = frame(long).loc[0]
    assert row["ttft"] == pytest.approx(long.cost.prefill_time(200_000, 0, 4), rel=REL)


def test_single_output_token_finishes_at_first_token() -> None:
    sim = make_sim((0.0, 3000, 1))
    replay(sim, FIFOPolicy().decide)
    row = frame(sim).loc[0]
    assert row["jct"] == row["ttft"] == pytest.approx(sim.cost.prefill_time(3000), rel=REL)
    assert np.isnan(row["tbt"])


# ----------------------------------------------------------------------- batching
def test_two_decodes_on_one_instance_slow_each_other_but_beat_serial() -> None:
    alone = make_sim((0.0, 500, 400))
    replay(alone, FIFOPolicy().decide)
    pair = make_sim((0.0, 500, 400), (0.0, 500, 400))
    replay(pair, FIFOPolicy().decide)
    solo, both = frame(alone).loc[0], frame(pair)
    cost = pair.cost
    decode_alone = solo["jct"] - solo["ttft"]
    decode_shared = both.loc[0, "jct"] - both.loc[0, "ttft"]
    # decode is memory-bound: a second sequence adds little, but not nothing
    assert decode_shared > decode_alone
    assert cost.decode_step_time(2, 1000) > cost.decode_step_time(1, 500)
    # every step of request 0 ran beside request 1 (its prefill, then its decode)
    assert both.loc[0, "tbt"] >= cost.decode_step_time(2, 1000)
    # batching pays: the pair is done well before two lone requests back to back
    assert both["t_finish"].max() < 0.8 * 2 * solo["jct"]


def test_prefill_beside_a_decode_batch_is_slower_and_slows_the_batch() -> None:
    # request 2 is never started: it keeps the env at a decision point at every event
    sim = make_sim((0.0, 200, 2000), (1.0, 2000, 1), (1.0, 10, 1))
    sim.advance()
    start(sim, 0)
    sim.advance()
    assert sim.clock[0] == 1.0 and sim.state[0, 0] == ReqState.DECODING
    start(sim, 1)  # it joins the batch when the running decode iteration ends
    admitted = sim.t_start[0, 1]
    assert 1.0 < admitted <= 1.0 + sim.iteration_time[0, 0]
    sim.advance()
    assert sim.clock[0] == admitted
    context, generated = sim.kv_tokens[0, 0], sim.generated[0, 0]
    sim.advance()  # request 1's prefill ends (it has a single output token)
    cost, chunk = sim.cost, sim.config.chunk_tokens
    mixed = cost.iteration_time(chunk, 1, context)
    solo_chunk = cost.iteration_time(chunk, 0, 0)
    expected_prefill = cost.prefill_time(2000) * mixed / solo_chunk
    prefill = sim.t_first_token[0, 1] - admitted
    assert prefill == pytest.approx(expected_prefill, rel=REL)
    assert prefill > cost.prefill_time(2000) * 1.001
    # the decode batch moved at one token per mixed iteration meanwhile
    assert mixed > cost.decode_step_time(1, context)
    assert sim.generated[0, 0] - generated == pytest.approx(prefill / mixed, rel=REL)
    assert sim.state[0, 1] == ReqState.DONE


# ------------------------------------------------------------ iteration boundaries
def test_start_beside_a_running_batch_waits_for_its_iteration_to_end() -> None:
    """New work joins a running batch at the end of its iteration: the request's queueing
    delay is the rest of the iteration in progress when it was started."""
    sim = make_sim((0.0, 1000, 400), (0.5, 200, 10))
    sim.advance()
    start(sim, 0)
    sim.advance()  # request 1 arrives at 0.5 while request 0 decodes
    assert sim.clock[0] == 0.5 and sim.state[0, 0] == ReqState.DECODING
    since, length = sim.busy_since[0, 0], sim.iteration_time[0, 0]
    assert since == pytest.approx(sim.t_first_token[0, 0], rel=REL)  # the batch changed then
    # the decode's iteration as of that event: the prompt's KV
    assert length == pytest.approx(sim.cost.decode_step_time(1, 1000), rel=REL)
    start(sim, 1)
    boundary = since + np.ceil((0.5 - since) / length) * length
    assert sim.t_start[0, 1] == pytest.approx(boundary, rel=REL)
    assert 0.0 < sim.t_start[0, 1] - 0.5 <= length
    assert sim.ready_at[0, 1] == sim.t_start[0, 1]  # its prefill runs from there
    run_out(sim)
    row = frame(sim).loc[1]
    assert row["queueing_delay"] == pytest.approx(boundary - 0.5, rel=REL)
    assert row["t_first_token"] > boundary


def test_a_start_that_displaces_a_prefill_or_resumes_in_place_does_not_wait() -> None:
    """The engine parks a displaced prefill at a layer boundary and the new request takes
    its place at once (QLLM); a request paused with its KV kept resumes in place at once."""
    sim = make_sim((0.0, 200, 2000), (1.0, 30_000, 5), (1.5, 100, 5))
    sim.advance()
    start(sim, 0)
    sim.advance()
    start(sim, 1)  # a long prefill beside the decode batch: it waits for the iteration
    assert sim.t_start[0, 1] > 1.0
    while sim.clock[0] < 1.5:
        sim.advance()
    assert sim.state[0, 1] == ReqState.PREFILLING and sim.ready_at[0, 1] < 1.5
    start(sim, 2, mode=KEEP)  # short preempts long
    assert sim.t_start[0, 2] == sim.ready_at[0, 2] == 1.5
    assert sim.state[0, 1] == ReqState.PREEMPTED
    while sim.state[0, 2] != ReqState.DONE:
        sim.advance()
    now = sim.clock[0]
    start(sim, 1)  # resumes in place
    assert sim.ready_at[0, 1] == now and sim.state[0, 1] == ReqState.PREFILLING


def test_start_at_an_iteration_end_or_on_an_idle_instance_does_not_wait() -> None:
    sim = make_sim((0.0, 2000, 50), (0.01, 100, 5))
    sim.advance()
    start(sim, 0)  # idle instance: at once
    assert sim.t_start[0, 0] == 0.0 and sim.ready_at[0, 0] == 0.0
    sim.advance()  # request 1 arrives during request 0's prefill: the slot is taken
    assert command(sim, Op.START, 1) == Reject.BUSY
    sim.advance()  # request 0's prefill ends: an iteration boundary
    assert sim.clock[0] == pytest.approx(sim.t_first_token[0, 0], rel=REL)
    start(sim, 1)
    assert sim.t_start[0, 1] == sim.clock[0]


# ------------------------------------------------------------- sequence parallelism
@pytest.mark.parametrize("sp_method", ["ulysses", "ring"])
def test_sp_group_prefills_long_input_faster(sp_method: str) -> None:
    tokens = 200_000
    ttft = {}
    for n in (1, 4):
        sim = make_sim((0.0, tokens, 4), num_instances=4, sp_method=sp_method)
        sim.advance()
        start(sim, 0, lo=0, n=n)
        np.testing.assert_allclose(sim.kv_used()[0, :n], tokens / n)
        assert np.all(sim.prefill_req[0, :n] == 0) and np.all(sim.prefill_req[0, n:] == -1)
        run_out(sim)
        ttft[n] = frame(sim).loc[0, "ttft"]
        expected = sim.cost.prefill_time(tokens, 0, n, sp_method=sp_method)
        assert ttft[n] == pytest.approx(expected, rel=REL)
    assert ttft[4] < ttft[1] / 2
    if sp_method == "ulysses":
        assert ttft[4] < ttft[1] / 3.5


def test_ulysses_beats_ring_attention() -> None:
    times = {}
    for method in ("ulysses", "ring"):
        sim = make_sim((0.0, 300_000, 2), num_instances=8, sp_method=method)
        sim.advance()
        start(sim, 0, lo=0, n=8)
        run_out(sim)
        times[method] = frame(sim).loc[0, "ttft"]
    assert times["ring"] > 1.3 * times["ulysses"]


def test_sp_decode_stays_on_its_group() -> None:
    sim = make_sim((0.0, 100_000, 50), num_instances=4)
    replay(sim, FIFOPolicy().decide)
    row = frame(sim).loc[0]
    assert sim.sp_degree_for(100_000) == 2
    assert sim.group_n[0, 0] == 2 and row["migrations"] == 0
    assert row["ttft"] == pytest.approx(sim.cost.prefill_time(100_000, 0, 2), rel=REL)
    # each member holds half of the KV: the decode step is that of one member
    step = sim.cost.decode_step_time(1, 50_000)
    assert row["jct"] - row["ttft"] == pytest.approx(49 * step, rel=REL)


# ---------------------------------------------------------------------- preemption
PROMPT = 12_000  # about a second of prefill on one A100


def preempt_at(mode: PreemptMode) -> ClusterSim:
    """Request 0 prefills on instance 0 (of 2) from t=0 and is preempted at t=0.2, when
    request 1 arrives; request 2 arrives at t=0.5 (the next decision point)."""
    sim = make_sim((0.0, PROMPT, 3), (0.2, 100, 3), (0.5, 100, 3), num_instances=2)
    sim.advance()
    start(sim, 0)
    sim.advance()
    assert sim.clock[0] == 0.2
    assert command(sim, Op.PREEMPT, 0, mode=mode) == Reject.OK
    assert sim.state[0, 0] == ReqState.PREEMPTED
    assert sim.prefill_req[0, 0] == -1
    return sim


def test_preempt_keep_holds_memory_and_resumes_progress() -> None:
    sim = preempt_at(KEEP)
    prefill = sim.cost.prefill_time(PROMPT)
    assert sim.kv_used()[0, 0] == PROMPT
    assert sim.prefill_done[0, 0] == pytest.approx(0.2 / prefill, rel=REL)
    # one command per request and instant: no resume before time moves on
    assert command(sim, Op.START, 0, lo=0) == Reject.ACTED
    sim.advance()
    assert sim.clock[0] == 0.5
    # a kept request may only resume where its KV cache is
    assert command(sim, Op.START, 0, lo=1) == Reject.BAD_INSTANCES
    assert command(sim, Op.START, 0, lo=0, n=2) == Reject.BAD_INSTANCES
    start(sim, 0)
    replay(sim, FIFOPolicy().decide)
    row = frame(sim).loc[0]
    assert row["ttft"] == pytest.approx(prefill + 0.3, rel=REL)  # later by the pause
    assert row["queueing_delay"] == 0.0 and row["prefill_preemptions"] == 1


def test_preempt_recompute_loses_progress() -> None:
    sim = preempt_at(RECOMPUTE)
    assert sim.kv_used()[0, 0] == 0.0
    assert sim.prefill_done[0, 0] == 0.0
    sim.advance()
    start(sim, 0, lo=1)  # may restart anywhere
    replay(sim, FIFOPolicy().decide)
    row = frame(sim).loc[0]
    assert row["ttft"] == pytest.approx(0.5 + sim.cost.prefill_time(PROMPT), rel=REL)
    assert row["t_start"] == 0.0  # the first start counts for the queueing delay


def test_preempt_swap_pays_the_copy_both_ways() -> None:
    sim = preempt_at(SWAP)
    cost = sim.cost
    prefill = cost.prefill_time(PROMPT)
    computed = 0.2 / prefill * PROMPT
    copy = cost.swap_time(computed)
    assert copy > 0.01
    assert sim.kv_used()[0, 0] == 0.0  # GPU memory is free at once
    assert sim.kv_host[0, 0] == pytest.approx(computed, rel=REL)
    assert not sim.queued()[0, 0]
    assert command(sim, Op.START, 0) == Reject.NOT_READY
    sim.advance()  # the copy to host ends: the request may start again
    assert sim.clock[0] == pytest.approx(0.2 + copy, rel=REL)
    assert sim.queued()[0, 0]
    start(sim, 0, lo=1)  # swapped KV may come back on another instance
    assert sim.ready_at[0, 0] == pytest.approx(0.2 + 2 * copy, rel=REL)
    replay(sim, FIFOPolicy().decide)
    ttft = frame(sim).loc[0, "ttft"]
    assert ttft == pytest.approx(prefill + 2 * copy, rel=REL)


def decode_then(action, num_instances: int = 2, pause_until: float | None = None):
    """Request 0 (3000 + 400 tokens) decodes on instance 0; at t=1 request 1 arrives (never
    started) and ``action(sim)`` runs (``pause_until``: request 2 arrives then, for a
    second decision point). Returns the finished sim and the decode's KV and output at t=1."""
    rows = [(0.0, 3000, 400), (1.0, 10, 1)]
    if pause_until is not None:
        rows.append((pause_until, 10, 1))
    sim = make_sim(*rows, num_instances=num_instances)
    sim.advance()
    start(sim, 0)
    sim.advance()
    assert sim.clock[0] == 1.0 and sim.state[0, 0] == ReqState.DECODING
    kv, generated = sim.kv_tokens[0, 0], sim.generated[0, 0]
    action(sim)
    run_out(sim)
    assert sim.state[0, 0] == ReqState.DONE and sim.generated[0, 0] == 400
    return sim, kv, generated


def finish(sim: ClusterSim) -> float:
    return frame(sim).loc[0, "t_finish"]


def rest_of_decode(sim: ClusterSim, kv: float, generated: float) -> float:
    """The decode's remaining time from t=1 at the rate it had then (nothing else runs)."""
    return (400 - generated) * sim.cost.decode_step_time(1, kv)


def test_decode_untouched_runs_at_the_rate_of_its_context() -> None:
    sim, kv, generated = decode_then(lambda sim: None)
    assert generated == pytest.approx(
        1 + (1.0 - sim.t_first_token[0, 0]) / (sim.cost.decode_step_time(1, 3000)), rel=REL
    )
    assert finish(sim) == pytest.approx(1.0 + rest_of_decode(sim, kv, generated), rel=REL)


def test_preempt_decode_keep_pauses_without_cost() -> None:
    def keep_and_wait(sim):
        assert command(sim, Op.PREEMPT, 0, mode=KEEP) == Reject.OK
        assert sim.kv_used()[0, 0] == sim.kv_tokens[0, 0] > 3000  # memory still held
        sim.advance()
        assert sim.clock[0] == 1.5
        start(sim, 0)
        assert sim.ready_at[0, 0] == 1.5  # no copy to wait for

    sim, kv, generated = decode_then(keep_and_wait, pause_until=1.5)
    assert finish(sim) == pytest.approx(1.5 + rest_of_decode(sim, kv, generated), rel=REL)
    assert frame(sim).loc[0, "decode_preemptions"] == 1


def test_preempt_decode_swap_pays_the_copy_both_ways() -> None:
    def swap_out_and_back(sim):
        assert command(sim, Op.PREEMPT, 0, mode=SWAP) == Reject.OK
        assert sim.kv_used()[0, 0] == 0.0
        sim.advance()  # the copy to host is done
        start(sim, 0, lo=1)

    sim, kv, generated = decode_then(swap_out_and_back)
    copy = sim.cost.swap_time(kv)
    assert copy > 0.01
    assert sim.group_lo[0, 0] == 1
    expected = 1.0 + 2 * copy + rest_of_decode(sim, kv, generated)
    assert finish(sim) == pytest.approx(expected, rel=REL)


def test_preempt_decode_recompute_reprefills_prompt_and_output() -> None:
    def recompute(sim):
        generated = sim.generated[0, 0]
        assert command(sim, Op.PREEMPT, 0, mode=RECOMPUTE) == Reject.OK
        assert sim.generated[0, 0] == np.floor(generated)
        assert sim.prefill_len[0, 0] == 3000 + np.floor(generated)
        assert sim.kv_used()[0, 0] == 0.0
        sim.advance()
        start(sim, 0, lo=1)
        assert sim.state[0, 0] == ReqState.PREFILLING

    sim, _, generated = decode_then(recompute, pause_until=1.5)
    cost = sim.cost
    kept = np.floor(generated)
    reprefill = cost.prefill_time(3000 + kept)
    # the re-prefill yields the next token; the rest decode at the rate of the new context
    expected = 1.5 + reprefill + (400 - kept - 1) * cost.decode_step_time(1, 3000 + kept)
    assert finish(sim) == pytest.approx(expected, rel=REL)
    row = frame(sim).loc[0]
    assert row["t_first_token"] < 1.0  # the first token stays where it was
    assert row["decode_preemptions"] == 1 and row["evictions"] == 0


# ------------------------------------------------------------------- KV transfers
@pytest.mark.parametrize(("num_instances", "target", "cross_node"), [(2, 1, False), (9, 8, True)])
def test_migrate_pays_kv_transfer(num_instances: int, target: int, cross_node: bool) -> None:
    def migrate(sim):
        assert command(sim, Op.MIGRATE, 0, lo=target) == Reject.OK
        assert sim.group_lo[0, 0] == target
        assert sim.kv_used()[0, 0] == 0.0 and sim.kv_used()[0, target] > 3000

    sim, kv, generated = decode_then(migrate, num_instances=num_instances)
    transfer = sim.cost.kv_transfer_time(kv, cross_node=cross_node)
    expected = 1.0 + transfer + rest_of_decode(sim, kv, generated)
    assert finish(sim) == pytest.approx(expected, rel=REL)
    assert frame(sim).loc[0, "migrations"] == 1
    if cross_node:
        assert transfer > 5 * sim.cost.kv_transfer_time(kv, cross_node=False)


def test_start_with_decode_to_moves_kv_after_prefill() -> None:
    sim = make_sim((0.0, 3000, 200), num_instances=2)
    sim.advance()
    start(sim, 0, lo=0, decode_to=1)
    run_out(sim)
    row = frame(sim).loc[0]
    cost = sim.cost
    assert row["ttft"] == pytest.approx(cost.prefill_time(3000), rel=REL)
    expected = row["ttft"] + cost.kv_transfer_time(3000) + decode_time(cost, 3000, 200)
    assert row["jct"] == pytest.approx(expected, rel=REL)
    assert row["migrations"] == 1 and sim.group_lo[0, 0] == 1


def transferring(num_instances: int = 10, *later: float) -> ClusterSim:
    """Request 0 (30K tokens) has prefilled on instance 0 and its KV is on its way to
    instance 8 (another node); request 1 keeps the env at a decision point; more requests
    arrive at the ``later`` times."""
    rows = [(0.0, 30_000, 50), (0.0, 10, 1), *((t, 10, 1) for t in later)]
    sim = make_sim(*rows, num_instances=num_instances)
    sim.advance()
    start(sim, 0, lo=0, decode_to=8)
    sim.advance()
    transfer = sim.cost.kv_transfer_time(30_000, cross_node=True)
    assert sim.state[0, 0] == ReqState.DECODING
    assert sim.ready_at[0, 0] == pytest.approx(sim.clock[0] + transfer, rel=REL)
    return sim


def test_keep_pause_does_not_skip_a_kv_transfer() -> None:
    plain = transferring()
    ready = plain.ready_at[0, 0]
    during = (plain.clock[0] + ready) / 2
    run_out(plain)
    paused = transferring(10, during)  # an arrival while the KV moves: a decision point
    assert command(paused, Op.PREEMPT, 0, mode=KEEP) == Reject.OK
    paused.advance()
    assert paused.clock[0] == during
    start(paused, 0, lo=8)
    assert paused.ready_at[0, 0] == ready  # still waits for the transfer to end
    run_out(paused)
    assert finish(paused) == finish(plain)


def test_chained_migration_does_not_skip_a_kv_transfer() -> None:
    sim = transferring()
    ready = sim.ready_at[0, 0]
    assert command(sim, Op.MIGRATE, 0, lo=9) == Reject.OK  # same node as 8: cheap
    assert sim.ready_at[0, 0] == pytest.approx(ready + sim.cost.kv_transfer_time(30_000), rel=REL)


def test_keep_pause_does_not_skip_a_swap_in() -> None:
    def swapped_back(*later: float) -> ClusterSim:
        rows = [(0.0, 3000, 400), (1.0, 10, 1), *((t, 10, 1) for t in later)]
        sim = make_sim(*rows, num_instances=2)
        sim.advance()
        start(sim, 0)
        sim.advance()
        assert command(sim, Op.PREEMPT, 0, mode=SWAP) == Reject.OK
        sim.advance()  # copied to host
        start(sim, 0)
        return sim

    probe = swapped_back()
    ready, now = probe.ready_at[0, 0], probe.clock[0]
    assert ready > now  # copying back
    first, second = now + (ready - now) / 3, now + 2 * (ready - now) / 3
    sim = swapped_back(first, second)  # arrivals during the copy back: decision points
    sim.advance()
    assert sim.clock[0] == first
    assert command(sim, Op.PREEMPT, 0, mode=KEEP) == Reject.OK
    sim.advance()
    assert sim.clock[0] == second
    start(sim, 0)
    assert sim.ready_at[0, 0] == ready


# --------------------------------------------------------------------- KV pressure
def test_kv_full_evicts_newest_decode_and_loses_nothing() -> None:
    rows = [(0.0, 2000, 1500)] * 8  # 8 x 3500 tokens on one instance of ~22K
    sim = make_sim(*rows, memory_utilization=0.25)
    cap = sim.kv_capacity
    assert 8 * 3500 > cap > 8 * 2000
    policy = FIFOPolicy()
    sim.advance()
    evictions_seen = 0
    while not sim.done:
        if sim.at_decision[0]:
            commands = policy.decide(sim, np.array([0]))
            if sim.apply(commands)[0] == Reject.OK and commands.op[0] != Op.NOOP:
                continue
        evicted_before = sim.evictions[0].copy()
        sim.advance()
        assert np.all(sim.kv_used() <= cap * (1 + 1e-9))
        for req in np.flatnonzero(sim.evictions[0] > evicted_before):
            # the victim is the most recently started decode; it is queued to recompute
            evictions_seen += 1
            assert sim.state[0, req] == ReqState.PREEMPTED
            assert sim.preempt_mode[0, req] == RECOMPUTE and sim.kv_tokens[0, req] == 0
            decoding = sim.state[0] == ReqState.DECODING
            assert np.all(sim.last_start[0, req] >= sim.last_start[0, decoding])
    assert evictions_seen > 0
    summary = summarize(sim)
    assert summary["completed"] == 8 and summary["kv_evictions"] > 0
    assert not sim.stalled[0]
    done = frame(sim)
    assert (done["state"] == "done").all()
    np.testing.assert_array_equal(sim.generated[0, :8], 1500)


@pytest.mark.parametrize("short_of_full", [1, 4, 5, 7, 10, 11, 12, 13])
def test_evicted_decode_that_refills_its_instance_still_progresses(short_of_full: int) -> None:
    """A prompt just short of an instance's KV capacity decodes until the instance is full
    and is evicted; its re-prefill (prompt + output so far) can fill the instance exactly
    again. The re-prefill yields a token, so the request progresses (and FIFO then gives it
    a bigger group) instead of being evicted again and again, forever."""
    config = ClusterConfig(num_instances=2, memory_utilization=0.3)
    cap = config.kv_capacity
    sim = ClusterSim(config, [workload((0.0, cap - short_of_full, short_of_full + 50))])
    policy = FIFOPolicy()
    sim.advance()
    for _ in range(200):  # a bounded replay: a livelock fails instead of hanging
        if sim.done:
            break
        if sim.at_decision[0]:
            commands = policy.decide(sim, np.array([0]))
            if sim.apply(commands)[0] == Reject.OK and commands.op[0] != Op.NOOP:
                continue
        sim.advance()
    row = frame(sim).loc[0]
    assert row["state"] == "done" and row["evictions"] >= 1
    assert sim.group_n[0, 0] == 2


# -------------------------------------------------------------------- rejections
def snapshot(sim: ClusterSim) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in vars(sim).items() if isinstance(v, np.ndarray)}


def assert_unchanged(sim: ClusterSim, before: dict[str, np.ndarray]) -> None:
    after = snapshot(sim)
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert np.array_equal(value, after[name], equal_nan=True), f"{name} changed"


@pytest.fixture
def busy_sim() -> ClusterSim:
    """At t=0.5 on two instances of ~22K KV tokens: request 0 prefills on instance 0 (holding
    20K), request 1 decodes on instance 1, requests 2 (30K tokens), 3 (1K) and 4 wait,
    request 5 is pending."""
    sim = make_sim(
        (0.0, 20_000, 50),
        (0.0, 3000, 500),
        (0.0, 30_000, 10),
        (0.0, 1000, 10),
        (0.5, 100, 10),
        (100.0, 100, 10),
        num_instances=2,
        memory_utilization=0.25,
    )
    sim.advance()
    start(sim, 1, lo=1)
    sim.advance()
    assert sim.state[0, 1] == ReqState.DECODING
    start(sim, 0, lo=0)
    sim.advance()
    assert sim.clock[0] == 0.5
    states = [ReqState(s).name for s in sim.state[0, :6]]
    assert states == ["PREFILLING", "DECODING", "WAITING", "WAITING", "WAITING", "PENDING"]
    return sim


S, P, M = Op.START, Op.PREEMPT, Op.MIGRATE
REJECTIONS = [
    # (op, req, lo, n, decode_to, mode), expected
    ((S, -1, 1, 1, -1, 0), Reject.BAD_REQUEST),
    ((S, 6, 1, 1, -1, 0), Reject.BAD_REQUEST),  # past the workload
    ((S, 5, 1, 1, -1, 0), Reject.BAD_REQUEST),  # not arrived yet
    ((S, 0, 1, 1, -1, 0), Reject.BAD_REQUEST),  # already running
    ((S, 1, 0, 1, -1, 0), Reject.BAD_REQUEST),
    ((P, 2, 0, 1, -1, 1), Reject.BAD_REQUEST),  # waiting, not running
    ((P, 5, 0, 1, -1, 1), Reject.BAD_REQUEST),
    ((P, -1, 0, 1, -1, 1), Reject.BAD_REQUEST),
    ((P, 9, 0, 1, -1, 1), Reject.BAD_REQUEST),
    ((M, 0, 1, 1, -1, 0), Reject.BAD_REQUEST),  # a prefill cannot migrate
    ((M, 2, 1, 1, -1, 0), Reject.BAD_REQUEST),
    ((S, 2, -1, 1, -1, 0), Reject.BAD_INSTANCES),
    ((S, 2, 0, 0, -1, 0), Reject.BAD_INSTANCES),
    ((S, 2, 1, 2, -1, 0), Reject.BAD_INSTANCES),
    ((S, 2, 2, 1, -1, 0), Reject.BAD_INSTANCES),
    ((S, 2, 0, 2, 2, 0), Reject.BAD_INSTANCES),  # decode_to out of range
    ((S, 2, 0, 2, -2, 0), Reject.BAD_INSTANCES),
    ((M, 1, 1, 1, -1, 0), Reject.BAD_INSTANCES),  # already there
    ((M, 1, 2, 1, -1, 0), Reject.BAD_INSTANCES),
    ((M, 1, -1, 1, -1, 0), Reject.BAD_INSTANCES),
    ((S, 2, 0, 2, -1, 0), Reject.BUSY),  # instance 0 runs a prefill, no preemption asked
    ((S, 2, 1, 1, -1, 0), Reject.NO_MEMORY),  # 30K tokens on one ~22K instance
    ((S, 2, 0, 2, -1, 1), Reject.NO_MEMORY),  # preempting (KEEP) frees no memory
    ((S, 3, 0, 1, -1, 0), Reject.BUSY),
    ((M, 1, 0, 1, -1, 0), Reject.NO_MEMORY),  # instance 0 is nearly full
    ((-1, 2, 1, 1, -1, 0), Reject.BAD_MODE),
    ((4, 2, 1, 1, -1, 0), Reject.BAD_MODE),
    ((S, 2, 0, 2, -1, -1), Reject.BAD_MODE),
    ((S, 2, 0, 2, -1, 4), Reject.BAD_MODE),
    ((P, 0, 0, 1, -1, 0), Reject.BAD_MODE),  # PREEMPT needs KEEP, SWAP or RECOMPUTE
    ((P, 1, 0, 1, -1, 4), Reject.BAD_MODE),
]


@pytest.mark.parametrize(("fields", "expected"), REJECTIONS)
def test_invalid_command_is_rejected_and_changes_nothing(
    busy_sim: ClusterSim, fields: tuple, expected: Reject
) -> None:
    before = snapshot(busy_sim)
    op, req, lo, n, decode_to, mode = fields
    assert command(busy_sim, op, req, lo, n, decode_to=decode_to, mode=mode) == expected
    assert_unchanged(busy_sim, before)


def test_not_ready_and_kept_elsewhere_change_nothing(busy_sim: ClusterSim) -> None:
    sim = busy_sim
    assert command(sim, Op.PREEMPT, 1, mode=SWAP) == Reject.OK
    assert command(sim, Op.PREEMPT, 0, mode=KEEP) == Reject.OK
    before = snapshot(sim)
    assert command(sim, Op.START, 1, lo=1) == Reject.NOT_READY
    assert command(sim, Op.START, 0, lo=0) == Reject.ACTED  # once per request and instant
    assert command(sim, Op.PREEMPT, 1, mode=KEEP) == Reject.BAD_REQUEST
    assert_unchanged(sim, before)


def test_noop_changes_nothing_and_bad_env_indices_raise(busy_sim: ClusterSim) -> None:
    before = snapshot(busy_sim)
    assert busy_sim.apply(Commands.empty(1))[0] == Reject.OK
    assert_unchanged(busy_sim, before)
    bad = Commands.empty(1)
    bad.env[0] = 1
    with pytest.raises(IndexError):
        busy_sim.apply(bad)
    twice = Commands.empty(1).select(np.array([0, 0]))
    with pytest.raises(ValueError, match="at most once"):
        busy_sim.apply(twice)


@pytest.mark.parametrize("mode", [KEEP, SWAP, RECOMPUTE])
def test_start_with_preemption_pauses_the_running_prefill(
    busy_sim: ClusterSim, mode: PreemptMode
) -> None:
    sim = busy_sim
    done = sim.prefill_done[0, 0]
    assert 0 < done < 1
    assert command(sim, Op.START, 3, lo=0, mode=mode) == Reject.OK
    assert sim.state[0, 0] == ReqState.PREEMPTED and sim.state[0, 3] == ReqState.PREFILLING
    assert sim.preempt_mode[0, 0] == mode and sim.prefill_preemptions[0, 0] == 1
    assert sim.prefill_req[0, 0] == 3
    held = {KEEP: 20_000, SWAP: 0, RECOMPUTE: 0}[mode]
    assert sim.kv_used()[0, 0] == pytest.approx(1000 + held)
    assert sim.prefill_done[0, 0] == (0.0 if mode == RECOMPUTE else done)
    assert sim.kv_host[0, 0] == pytest.approx(done * 20_000 if mode == SWAP else 0.0)


# ------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_instances": 0}, "num_instances"),
        ({"num_instances": 65}, "num_instances"),
        ({"num_instances": -3}, "num_instances"),
        ({"model": "gpt-9"}, "unknown model"),
        ({"gpu": "tpu-v5"}, "unknown GPU"),
        ({"tp": 3}, "power of two"),
        ({"tp": 16}, "exceeds"),
        ({"model": "llama-3-70b", "tp": 1}, "does not fit"),
        ({"chunk_tokens": 0}, "chunk_tokens"),
        ({"sp_method": "zigzag"}, "sp_method"),
        ({"decision_interval": 0.0}, "decision_interval"),
        ({"horizon": -1.0}, "horizon"),
    ],
)
def test_impossible_configs_raise_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ClusterConfig(**kwargs)


def test_request_too_big_for_the_cluster_raises() -> None:
    config = ClusterConfig(num_instances=2)
    too_big = workload((0.0, 100, 10), (1.0, 2 * config.kv_capacity, 10))
    with pytest.raises(ConfigError, match="whole cluster"):
        ClusterSim(config, [too_big])
    with pytest.raises(ConfigError):
        ClusterSim(config, [])
    fits = workload((0.0, 2 * config.kv_capacity - 10, 10))
    assert ClusterSim(config, [fits]).num_requests[0] == 1


# --------------------------------------------------------------------- endings
def rows_every(seconds: float, count: int) -> list[tuple[float, int, int]]:
    return [(i * seconds, 1000, 100) for i in range(count)]


def test_horizon_truncates_and_reports_unfinished() -> None:
    sim = make_sim(*rows_every(0.5, 40), num_instances=1, horizon=5.0)
    replay(sim, FIFOPolicy().decide)
    assert sim.done and sim.truncated[0] and not sim.stalled[0]
    assert sim.clock[0] == 5.0
    summary = summarize(sim)
    assert 0 < summary["completed"] < 40
    assert summary["unfinished"] > 0 and summary["not_arrived"] == 40 - 11
    assert summary["unfinished"] + summary["completed"] + summary["not_arrived"] == 40


class NeverActs:
    name = "never"

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        return Commands.empty(sim.num_envs).select(envs)


def test_policy_that_never_acts_is_truncated_after_the_drain_time() -> None:
    sim = make_sim(*rows_every(1.0, 5), drain_time=60.0)
    replay(sim, NeverActs().decide)
    assert sim.done and sim.truncated[0] and not sim.stalled[0]
    assert sim.clock[0] == 4.0 + 60.0  # the last arrival, then the drain time
    assert summarize(sim)["unfinished"] == 5


def test_policy_that_never_acts_stalls_without_limits() -> None:
    sim = make_sim(*rows_every(1.0, 5), drain_time=None)
    replay(sim, NeverActs().decide)
    assert sim.done and sim.stalled[0] and sim.truncated[0]  # a stall is a truncation
    assert sim.clock[0] == 4.0  # the last arrival; then nothing can happen
    assert sim.state_counts(0)["waiting"] == 5
    summary = summarize(sim)
    assert summary["stalled"] and summary["unfinished"] == 5 and summary["completed"] == 0


def test_policy_that_never_acts_with_horizon_is_truncated() -> None:
    sim = make_sim(*rows_every(1.0, 5), horizon=3.5, drain_time=None)
    replay(sim, NeverActs().decide)
    assert sim.truncated[0] and not sim.stalled[0] and sim.clock[0] == 3.5
    assert summarize(sim)["not_arrived"] == 1


def test_empty_workload_is_finished_at_once() -> None:
    config = ClusterConfig(num_instances=2)
    empty = Workload(np.zeros(0), np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    sim = ClusterSim(config, [empty, workload((0.0, 100, 5))])
    assert sim.finished[0] and not sim.finished[1]
    replay(sim, FIFOPolicy().decide)
    assert sim.done and sim.state_counts(1)["done"] == 1 and sim.clock[0] == 0.0
