"""The roofline cost model: defaults, identities, monotonicity, SP, validation, CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pecgym.commands import costmodel as costmodel_command
from pecgym.sim.costmodel import DEFAULT_EFFICIENCY, CostModel, Efficiency, default_efficiency
from pecgym.sim.hardware import GPUS, MODELS

KIB = 1024
CASES = [
    ("llama-3-8b", "a100", 1),
    ("llama-3-8b", "h100", 2),
    ("mistral-7b", "a100", 1),
    ("llama-3-70b", "a100", 4),
    ("llama-3-70b", "h200", 8),
    ("mixtral-8x7b", "a100", 2),
]
_MODELS = {case: CostModel(*case) for case in CASES}


@pytest.fixture(scope="module")
def cm8() -> CostModel:
    return CostModel("llama-3-8b", "a100")


@pytest.fixture(scope="module")
def cm70() -> CostModel:
    return CostModel("llama-3-70b", "a100", 4)


# ----------------------------------------------------------------- defaults and sizes
def test_realistic_defaults_llama3_8b_a100(cm8: CostModel) -> None:
    decode = cm8.decode_step_time(32, 32 * 1024)
    assert 0.010 < decode < 0.050
    assert 0.12 < cm8.prefill_time(2048) < 0.20
    assert 350_000 < cm8.kv_capacity_tokens < 450_000
    assert 0.001 <= cm8.iteration_overhead <= 0.010


def test_kv_bytes_and_capacity(cm8: CostModel, cm70: CostModel) -> None:
    assert cm8.kv_bytes_per_token == 128 * KIB
    assert cm70.kv_bytes_per_token == 320 * KIB
    assert isinstance(cm8.kv_capacity_tokens, int)
    # 500K tokens need ~64 GB of KV: too much for one 80 GB GPU next to 16 GB of weights.
    assert 500_000 * cm8.kv_bytes_per_token > 60e9
    assert cm8.kv_capacity_tokens < 500_000
    # capacity x bytes + weights stays inside the usable memory of the instance
    for cm in (cm8, cm70):
        used = cm.kv_capacity_tokens * cm.kv_bytes_per_token + cm.model.weight_bytes
        assert used <= cm.tp * cm.gpu.hbm_bytes * cm.memory_utilization


def test_capacity_grows_with_tp_memory_and_gpu() -> None:
    caps = [CostModel("llama-3-8b", "a100", tp).kv_capacity_tokens for tp in (1, 2, 4, 8)]
    assert caps == sorted(caps) and caps[-1] > 7 * caps[0]
    low = CostModel("llama-3-8b", "a100", memory_utilization=0.5).kv_capacity_tokens
    assert low < caps[0]
    assert CostModel("llama-3-8b", "h200").kv_capacity_tokens > caps[0]


def test_describe(cm70: CostModel) -> None:
    info = cm70.describe()
    assert info["model"] == "Llama-3-70B" and info["tp"] == 4
    assert info["kv_capacity_tokens"] == cm70.kv_capacity_tokens
    assert info["kv_bytes_per_token"] == 320 * KIB
    assert info["weights_gb"] == pytest.approx(141.2)
    assert info["overhead_ms"] == pytest.approx(cm70.iteration_overhead * 1e3)
    json.dumps(info)


def test_attributes(cm70: CostModel) -> None:
    assert cm70.model is MODELS["llama-3-70b"] and cm70.gpu is GPUS["a100"]
    assert cm70.tp == 4 and cm70.chunk_tokens == 512
    assert cm70.efficiency == DEFAULT_EFFICIENCY["a100"]
    assert CostModel("llama-3-8b", "a100", chunk_tokens=1024).chunk_tokens == 1024


def test_gpu_default_efficiency() -> None:
    a100, h100 = default_efficiency("a100"), default_efficiency("H100")
    assert 0.65 <= a100.matmul_flops <= 0.75 and 0.5 <= h100.matmul_flops <= 0.7
    assert h100.matmul_flops < a100.matmul_flops
    assert 0.6 <= a100.hbm_bandwidth <= 0.8
    assert a100.roofline_exponent > 1


def test_custom_efficiency_is_used() -> None:
    slow = Efficiency(matmul_flops=0.3, iteration_overhead=0.02)
    base, cm = CostModel("llama-3-8b", "a100"), CostModel("llama-3-8b", "a100", efficiency=slow)
    assert cm.efficiency is slow and cm.iteration_overhead == 0.02
    assert cm.linear_time(4096) > 2 * base.linear_time(4096)


def test_h100_faster_than_a100() -> None:
    a100, h100 = CostModel("llama-3-8b", "a100"), CostModel("llama-3-8b", "h100")
    assert h100.prefill_time(8192) < a100.prefill_time(8192)
    assert h100.decode_step_time(64, 64 * 2048) < a100.decode_step_time(64, 64 * 2048)


# -------------------------------------------------------------- types and vectorization
def test_scalars_give_floats_arrays_give_arrays(cm8: CostModel) -> None:
    assert type(cm8.linear_time(100)) is float
    assert type(cm8.prefill_time(np.int64(100))) is float
    assert type(cm8.decode_step_time(2, 100)) is float
    out = cm8.decode_step_time(np.array([1, 2, 4]), 1000)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (3,)
    grid = cm8.prefill_time(np.array([[128], [256]]), np.array([0, 1000, 2000]))
    assert grid.shape == (2, 3)
    assert cm8.linear_time(np.array([], dtype=np.int64)).shape == (0,)


def test_vectorized_equals_scalar(cm70: CostModel) -> None:
    tokens = np.array([0, 1, 7, 512, 3000, 100_000])
    context = np.array([0, 10, 0, 4096, 9, 50_000])
    sp = np.array([1, 1, 2, 4, 2, 8])
    batch = tokens // 10
    arrays = {
        "linear": cm70.linear_time(tokens),
        "prefill": cm70.prefill_time(tokens, context, sp),
        "ring": cm70.prefill_time(tokens, context, sp, sp_method="ring"),
        "decode": cm70.decode_step_time(batch, context),
        "iteration": cm70.iteration_time(tokens, batch, context),
        "transfer": cm70.kv_transfer_time(tokens, cross_node=True),
        "swap": cm70.swap_time(tokens),
    }
    for i in range(len(tokens)):
        n, c, s, b = int(tokens[i]), int(context[i]), int(sp[i]), int(batch[i])
        assert arrays["linear"][i] == pytest.approx(cm70.linear_time(n))
        assert arrays["prefill"][i] == pytest.approx(cm70.prefill_time(n, c, s))
        assert arrays["ring"][i] == pytest.approx(cm70.prefill_time(n, c, s, sp_method="ring"))
        assert arrays["decode"][i] == pytest.approx(cm70.decode_step_time(b, c))
        assert arrays["iteration"][i] == pytest.approx(cm70.iteration_time(n, b, c))
        assert arrays["transfer"][i] == pytest.approx(cm70.kv_transfer_time(n, cross_node=True))
        assert arrays["swap"][i] == pytest.approx(cm70.swap_time(n))


# ----------------------------------------------------------------------- identities
def test_zero_work_costs_nothing(cm8: CostModel) -> None:
    assert cm8.decode_step_time(0, 0) == 0.0
    assert cm8.decode_step_time(0, 5000) == 0.0
    assert cm8.iteration_time(0, 0, 0) == 0.0
    assert cm8.prefill_time(0) == 0.0
    assert cm8.linear_time(0) == 0.0
    assert cm8.attention_prefill_time(0, 100) == 0.0
    assert cm8.kv_transfer_time(0) == 0.0 and cm8.swap_time(0) == 0.0
    assert cm8.tp_allreduce_time(1000) == 0.0  # tp=1


@pytest.mark.parametrize("case", CASES)
def test_iteration_identities(case: tuple[str, str, int]) -> None:
    cm = _MODELS[case]
    b = np.array([1, 8, 32, 256])
    ctx = b * np.array([100, 1024, 4096, 2000])
    np.testing.assert_allclose(cm.iteration_time(0, b, ctx), cm.decode_step_time(b, ctx))
    n = np.array([1, 128, 512, 2048, 65536])
    np.testing.assert_allclose(cm.iteration_time(n, 0, 0), cm.prefill_time(n), rtol=1e-12)
    np.testing.assert_allclose(
        cm.iteration_time(n, 0, 0, prefill_context=1000), cm.prefill_time(n, 1000), rtol=1e-12
    )
    np.testing.assert_allclose(cm.prefill_time(n, sp=1, sp_method="ring"), cm.prefill_time(n))


def test_prefill_decomposes(cm70: CostModel) -> None:
    n, c = 4096, 2048
    parts = (
        cm70.iteration_overhead
        + cm70.linear_time(n)
        + cm70.attention_prefill_time(n, c)
        + cm70.tp_allreduce_time(n)
    )
    assert cm70.prefill_time(n, c) == pytest.approx(parts)


def test_mixed_iteration_shares_the_weight_pass(cm8: CostModel) -> None:
    mixed = cm8.iteration_time(512, 32, 32 * 1024)
    separate = cm8.prefill_time(512) + cm8.decode_step_time(32, 32 * 1024)
    assert max(cm8.prefill_time(512), cm8.decode_step_time(32, 32 * 1024)) < mixed < separate


def test_attention_is_quadratic(cm8: CostModel) -> None:
    t1, t2 = cm8.attention_prefill_time(100_000), cm8.attention_prefill_time(200_000)
    assert 3.5 < t2 / t1 < 4.1
    # at 500K tokens attention dominates the prefill
    assert cm8.attention_prefill_time(500_000) > 5 * cm8.linear_time(500_000)


def test_attention_efficiency_grows_with_sequence_length() -> None:
    """Short prefills leave FlashAttention under-filled, long ones run near its peak: both
    published figures hold with one curve (``Efficiency.attention_half_length``)."""
    # vidur's profile: CodeLlama-34B TP2 on A100, prefill attention of 2048 tokens, 48 layers
    short = CostModel("codellama-34b", "a100", 2).attention_prefill_time(2048)
    assert short == pytest.approx(32.69e-3, rel=0.05)
    # MInference (arXiv 2407.02490): about 30 minutes to prefill 1M tokens, Llama-3-8B, 1 A100
    long = CostModel("llama-3-8b", "a100", 1).prefill_time(1_000_000)
    assert 25 * 60 < long < 35 * 60
    flat = CostModel(
        "codellama-34b", "a100", 2, efficiency=Efficiency(attention_half_length=0.0)
    ).attention_prefill_time(2048)
    assert short > 2.5 * flat  # the curve, not a constant, carries the short-sequence cost


def test_decode_is_memory_bound(cm8: CostModel) -> None:
    # batch 1 and batch 16 read the same weights: close in time
    assert cm8.decode_step_time(16, 16_000) < 1.3 * cm8.decode_step_time(1, 1000)
    # KV reads grow with context: 64 x 4K tokens of KV (32 GiB) take > 15 ms at ~1.5 TB/s
    assert cm8.decode_step_time(64, 64 * 4096) - cm8.decode_step_time(64, 64) > 0.015


def test_tp_allreduce(cm70: CostModel) -> None:
    assert cm70.tp_allreduce_time(0) == 0.0
    t = cm70.tp_allreduce_time(np.array([1, 128, 4096]))
    assert np.all(np.diff(t) > 0) and t[0] > 0
    # 160 all-reduces of 64 MiB at ~150-200 GB/s bus bandwidth: about 0.1 s
    assert 0.05 < t[2] < 0.2


def test_moe_reads_more_experts_for_bigger_batches() -> None:
    mixtral, mistral = CostModel("mixtral-8x7b", "a100", 2), CostModel("mistral-7b", "a100", 2)
    # one token touches 2 of 8 experts, a batch of 64 nearly all of them
    assert 1.3 < mixtral.linear_time(1) / mistral.linear_time(1) < 2.5
    assert mixtral.linear_time(64) > 2.5 * mixtral.linear_time(1)
    assert mixtral.decode_step_time(32, 32_000) > mixtral.decode_step_time(1, 1000)


def test_transfers(cm8: CostModel, cm70: CostModel) -> None:
    tokens = 4096
    nvlink = cm8.kv_transfer_time(tokens)
    network = cm8.kv_transfer_time(tokens, cross_node=True)
    swap = cm8.swap_time(tokens)
    assert 0 < nvlink < network and nvlink < swap
    # 512 MiB over ~25 GB/s PCIe
    assert swap == pytest.approx(tokens * 128 * KIB / 25e9)
    # TP shards move in parallel
    assert cm70.swap_time(tokens) == pytest.approx(tokens * 320 * KIB / 4 / 25e9)


# -------------------------------------------------------------- sequence parallelism
def test_sequence_parallel_speeds_up_long_prefills(cm8: CostModel, cm70: CostModel) -> None:
    for cm in (cm8, cm70):
        times = [cm.prefill_time(500_000, sp=sp) for sp in (1, 2, 4, 8)]
        assert all(np.diff(times) < 0)
        assert times[0] / times[3] > 4


@pytest.mark.parametrize("tokens", [32_768, 100_000, 500_000])
@pytest.mark.parametrize("sp", [2, 4, 8])
def test_ulysses_beats_ring_on_long_inputs(cm8: CostModel, tokens: int, sp: int) -> None:
    ulysses = cm8.prefill_time(tokens, sp=sp)
    ring = cm8.prefill_time(tokens, sp=sp, sp_method="ring")
    assert ring > ulysses
    if tokens >= 100_000:  # attention dominates: the unbalanced ring is far behind
        assert ring > 1.25 * ulysses


def test_ring_still_helps_over_no_sp(cm8: CostModel) -> None:
    assert cm8.prefill_time(500_000, sp=4, sp_method="ring") < cm8.prefill_time(500_000)


def test_cross_node_sp_pays_the_network(cm70: CostModel) -> None:
    # sp=2 x tp=4 fits a node; sp=4 x tp=4 spans two nodes; more GPUs still win for 500K tokens
    assert cm70.prefill_time(500_000, sp=4) < cm70.prefill_time(500_000, sp=2)
    # but communication makes the cross-node step less than ideal
    assert cm70.prefill_time(500_000, sp=4) > 0.5 * cm70.prefill_time(500_000, sp=2)


def test_short_prefill_gains_little_from_sp(cm8: CostModel) -> None:
    assert cm8.prefill_time(256, sp=8) > 0.5 * cm8.prefill_time(256)


# ------------------------------------------------------------------------- monotonicity
tokens_st = st.integers(min_value=0, max_value=600_000)
small_st = st.integers(min_value=0, max_value=4096)
case_st = st.sampled_from(CASES)


def _never_faster(cm_case: tuple[str, str, int], fn, lo: np.ndarray, hi: np.ndarray) -> None:
    cm = _MODELS[cm_case]
    assert np.all(fn(cm, hi) >= fn(cm, lo) * (1 - 1e-12))


@settings(max_examples=60, deadline=None)
@given(case=case_st, a=tokens_st, b=tokens_st)
def test_linear_and_prefill_monotone_in_tokens(case, a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    _never_faster(case, lambda cm, n: cm.linear_time(n), lo, hi)
    _never_faster(case, lambda cm, n: cm.prefill_time(n), lo, hi)
    _never_faster(case, lambda cm, n: cm.prefill_time(n, sp=4), lo, hi)
    _never_faster(case, lambda cm, n: cm.prefill_time(n, sp=4, sp_method="ring"), lo, hi)
    _never_faster(case, lambda cm, n: cm.attention_prefill_time(n, 1000), lo, hi)
    _never_faster(case, lambda cm, n: cm.kv_transfer_time(n), lo, hi)
    _never_faster(case, lambda cm, n: cm.swap_time(n), lo, hi)
    _never_faster(case, lambda cm, n: cm.tp_allreduce_time(n), lo, hi)


@settings(max_examples=60, deadline=None)
@given(case=case_st, n=small_st, a=tokens_st, b=tokens_st, sp=st.sampled_from([1, 2, 4, 8]))
def test_prefill_monotone_in_context(case, n: int, a: int, b: int, sp: int) -> None:
    lo, hi = min(a, b), max(a, b)
    _never_faster(case, lambda cm, c: cm.prefill_time(n, c, sp), lo, hi)
    _never_faster(case, lambda cm, c: cm.prefill_time(n, c, sp, "ring"), lo, hi)


@settings(max_examples=80, deadline=None)
@given(
    case=case_st,
    b1=st.integers(0, 512),
    b2=st.integers(0, 512),
    c1=st.integers(0, 2_000_000),
    c2=st.integers(0, 2_000_000),
    p=small_st,
)
def test_decode_and_iteration_monotone(case, b1: int, b2: int, c1: int, c2: int, p: int) -> None:
    cm = _MODELS[case]
    blo, bhi = min(b1, b2), max(b1, b2)
    clo, chi = min(c1, c2), max(c1, c2)
    eps = 1 - 1e-12
    assert cm.decode_step_time(bhi, chi) >= cm.decode_step_time(blo, clo) * eps
    assert cm.decode_step_time(bhi, clo) >= cm.decode_step_time(blo, clo) * eps
    assert cm.decode_step_time(blo, chi) >= cm.decode_step_time(blo, clo) * eps
    assert cm.iteration_time(p, bhi, chi) >= cm.iteration_time(p, blo, clo) * eps
    assert cm.iteration_time(p + 100, blo, clo) >= cm.iteration_time(p, blo, clo) * eps


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("tp", [0, -1, 3, 6, 16, 1.5, True, "2"])
def test_bad_tp(tp: object) -> None:
    with pytest.raises(ValueError, match="tp"):
        CostModel("llama-3-8b", "a100", tp)  # type: ignore[arg-type]


def test_model_too_big() -> None:
    with pytest.raises(ValueError, match=r"Llama-3-70B.*A100.*tp=1.*141\.2 GB"):
        CostModel("llama-3-70b", "a100", 1)
    with pytest.raises(ValueError, match=r"Mixtral-8x7B.*tp=1"):
        CostModel("mixtral-8x7b", "a100", 1)
    with pytest.raises(ValueError, match="does not fit"):
        CostModel("llama-3-8b", "a100", memory_utilization=0.2)
    CostModel("llama-3-70b", "h200", 2)  # 2 x 141 GB holds 141 GB of weights plus KV


def test_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        CostModel("gpt-5", "a100")
    with pytest.raises(ValueError, match="unknown GPU"):
        CostModel("llama-3-8b", "v100")


def test_bad_arguments(cm8: CostModel) -> None:
    with pytest.raises(ValueError, match="sp"):
        cm8.prefill_time(1000, sp=0)
    with pytest.raises(ValueError, match="sp_method"):
        cm8.prefill_time(1000, sp=2, sp_method="megatron")
    with pytest.raises(ValueError, match=">= 0"):
        cm8.decode_step_time(-1, 100)
    with pytest.raises(ValueError, match=">= 0"):
        cm8.linear_time(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="memory_utilization"):
        CostModel("llama-3-8b", "a100", memory_utilization=1.5)
    with pytest.raises(ValueError, match="chunk_tokens"):
        CostModel("llama-3-8b", "a100", chunk_tokens=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"matmul_flops": 0.0},
        {"hbm_bandwidth": 1.2},
        {"roofline_exponent": 0.5},
        {"iteration_overhead": -1.0},
        {"ring_overlap": 2.0},
        {"attention_half_length": -1.0},
    ],
)
def test_bad_efficiency(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Efficiency"):
        Efficiency(**kwargs)


# ------------------------------------------------------------------------------------ CLI
def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="pecgym")
    costmodel_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.handler(args)
    return code, capsys.readouterr().out


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["costmodel", "--model", "llama-3-70b", "--gpu", "a100", "--tp", "8"]
    argv += ["--prefill-tokens", "2048", "--decode-batch", "32", "--context", "1024", "--json"]
    code, out = _run_cli(argv, capsys)
    assert code == 0
    data = json.loads(out)
    for key in ("prefill_ms", "decode_step_ms", "kv_capacity_tokens", "kv_bytes_per_token"):
        assert key in data
    cm = CostModel("llama-3-70b", "a100", 8)
    assert data["prefill_ms"] == pytest.approx(cm.prefill_time(2048) * 1e3)
    assert data["decode_step_ms"] == pytest.approx(cm.decode_step_time(32, 32 * 1024) * 1e3)
    assert data["kv_capacity_tokens"] == cm.kv_capacity_tokens
    assert data["tp"] == 8 and data["model"] == "Llama-3-70B"


def test_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run_cli(["costmodel", "--model", "Mistral-7B", "--sp", "2"], capsys)
    assert code == 0
    assert "prefill_ms" in out and "decode_step_ms" in out and "kv_capacity_tokens" in out
    assert "Mistral-7B" in out


def test_cli_errors_are_value_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="tp"):
        _run_cli(["costmodel", "--tp", "3"], capsys)
    with pytest.raises(ValueError, match="does not fit"):
        _run_cli(["costmodel", "--model", "llama-3-70b", "--tp", "1"], capsys)
    with pytest.raises(ValueError, match="decode-batch"):
        _run_cli(["costmodel", "--decode-batch", "-1"], capsys)


def test_eight_bit_weights_halve_weight_memory_and_fit_mixtral_on_one_a100() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        CostModel("mixtral-8x7b", "a100", 1)
    bf16 = CostModel("mixtral-8x7b", "a100", 2)
    int8 = CostModel("mixtral-8x7b", "a100", 1, weight_bits=8)
    assert int8.weight_bytes_per_gpu == pytest.approx(bf16.weight_bytes_per_gpu)
    assert int8.describe()["weights_gb"] == pytest.approx(46.7)
    assert int8.kv_capacity_tokens > 100_000
    llama16 = CostModel("llama-3-8b", "a100", 1)
    llama8 = CostModel("llama-3-8b", "a100", 1, weight_bits=8)
    # decode reads the weights: faster with half the bytes; compute-bound prefill is not
    assert llama8.decode_step_time(1, 1000) < 0.8 * llama16.decode_step_time(1, 1000)
    assert llama8.prefill_time(4096) == pytest.approx(llama16.prefill_time(4096), rel=0.05)
    assert llama8.kv_capacity_tokens > llama16.kv_capacity_tokens


def test_unsupported_weight_bits_are_rejected() -> None:
    with pytest.raises(ValueError, match="weight_bits"):
        CostModel("llama-3-8b", "a100", 1, weight_bits=4)


def test_chunked_prefill_time_sums_its_chunks() -> None:
    cm = CostModel("llama-3-8b", "a100", 1)
    tokens = np.array([0, 100, 512, 513, 2048])
    out = cm.chunked_prefill_time(tokens)
    assert out[0] == 0.0 and out[1] == cm.iteration_time(100, 0, 0)
    assert out[2] == cm.iteration_time(512, 0, 0)
    assert out[3] == pytest.approx(out[2] + cm.iteration_time(1, 0, 0, prefill_context=512))
    assert (out[1:] >= cm.prefill_time(tokens[1:]) * (1 - 1e-12)).all()  # never faster
    assert cm.chunked_prefill_time(2048, chunk=4096) == pytest.approx(cm.prefill_time(2048))
    with pytest.raises(ValueError, match="chunk"):
        cm.chunked_prefill_time(100, chunk=0)
