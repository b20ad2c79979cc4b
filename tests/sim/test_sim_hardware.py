"""Hardware and model specs: figures, derived sizes and name lookup."""

from __future__ import annotations

import dataclasses

import pytest

from pecgym.sim.hardware import GPUS, MODELS, GPUSpec, ModelSpec, get_gpu, get_model

KIB = 1024


def test_gpu_figures_match_datasheets() -> None:
    a100, h100, h200 = GPUS["a100"], GPUS["h100"], GPUS["h200"]
    assert (a100.flops, a100.hbm_bytes, a100.hbm_bandwidth) == (312e12, 80e9, 2.039e12)
    assert a100.nvlink_bandwidth == 600e9
    assert (h100.flops, h100.hbm_bytes, h100.hbm_bandwidth) == (989e12, 80e9, 3.35e12)
    assert (h200.flops, h200.hbm_bytes, h200.hbm_bandwidth) == (989e12, 141e9, 4.8e12)
    assert h100.nvlink_bandwidth == h200.nvlink_bandwidth == 900e9
    assert a100.pcie_bandwidth == 25e9 and h100.pcie_bandwidth == 50e9
    assert a100.internode_bandwidth == 25e9
    assert all(g.gpus_per_node == 8 for g in GPUS.values())


def test_specs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        GPUS["a100"].flops = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        MODELS["llama-3-8b"].layers = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "layers", "hidden", "q", "kv", "ffn", "vocab", "params"),
    [
        ("llama-3-8b", 32, 4096, 32, 8, 14336, 128256, 8.0e9),
        ("llama-3-70b", 80, 8192, 64, 8, 28672, 128256, 70.6e9),
        ("mistral-7b", 32, 4096, 32, 8, 14336, 32768, 7.2e9),
        ("mixtral-8x7b", 32, 4096, 32, 8, 14336, 32000, 46.7e9),
    ],
)
def test_model_table(
    key: str, layers: int, hidden: int, q: int, kv: int, ffn: int, vocab: int, params: float
) -> None:
    m = MODELS[key]
    assert (m.layers, m.hidden, m.q_heads, m.kv_heads, m.head_dim) == (layers, hidden, q, kv, 128)
    assert (m.ffn, m.vocab, m.params) == (ffn, vocab, params)
    assert m.weight_bytes == 2 * params


def test_mixtral_is_moe() -> None:
    m = MODELS["mixtral-8x7b"]
    assert (m.num_experts, m.experts_per_token, m.active_params) == (8, 2, 12.9e9)
    assert m.is_moe and not MODELS["mistral-7b"].is_moe
    assert MODELS["llama-3-8b"].active_params == MODELS["llama-3-8b"].params


def test_kv_bytes_per_token() -> None:
    assert MODELS["llama-3-8b"].kv_bytes_per_token == 128 * KIB
    assert MODELS["llama-3-70b"].kv_bytes_per_token == 320 * KIB
    assert MODELS["mistral-7b"].kv_bytes_per_token == 128 * KIB


def test_500k_tokens_of_llama3_8b_kv_is_about_64_gb() -> None:
    kv = 500_000 * MODELS["llama-3-8b"].kv_bytes_per_token
    assert 60e9 < kv < 70e9
    assert kv + MODELS["llama-3-8b"].weight_bytes > GPUS["a100"].hbm_bytes


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("a100", "a100"),
        ("A100", "a100"),
        ("A100-80GB", "a100"),
        ("a100_80gb_sxm4", "a100"),
        ("NVIDIA A100-SXM4-80GB", "a100"),
        ("H100", "h100"),
        ("h100-80gb-sxm5", "h100"),
        ("H200", "h200"),
        ("h200-141gb", "h200"),
    ],
)
def test_get_gpu_spellings(name: str, key: str) -> None:
    assert get_gpu(name) is GPUS[key]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("llama-3-8b", "llama-3-8b"),
        ("Llama-3-70B", "llama-3-70b"),
        ("meta-llama/Meta-Llama-3-8B", "llama-3-8b"),
        ("Meta-Llama-3-70B-Instruct", "llama-3-70b"),
        ("meta-llama/Llama-3.1-70B", "llama-3-70b"),
        ("Mistral-7B", "mistral-7b"),
        ("mistralai/Mistral-7B-v0.1", "mistral-7b"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b"),
        ("MIXTRAL-8X7B", "mixtral-8x7b"),
    ],
)
def test_get_model_spellings(name: str, key: str) -> None:
    assert get_model(name) is MODELS[key]


def test_specs_pass_through() -> None:
    gpu = GPUSpec("custom", 1e15, 1e11, 1e12, 1e11, 1e10, 1e10)
    model = ModelSpec("tiny", 2, 256, 4, 4, 64, 1024, 1000, 2e6, 2e6)
    assert get_gpu(gpu) is gpu and get_model(model) is model


@pytest.mark.parametrize("name", ["v100", "a100-40gb", "a100-pcie", "", "tpu"])
def test_unknown_gpu_lists_known(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown GPU.*a100.*h100.*h200"):
        get_gpu(name)


@pytest.mark.parametrize("name", ["llama-2-7b", "gpt-4", "llama-3-405b", ""])
def test_unknown_model_lists_known(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown model.*llama-3-8b.*mixtral-8x7b"):
        get_model(name)
