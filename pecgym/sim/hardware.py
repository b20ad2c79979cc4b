"""GPUs and transformer models as plain data.

All figures are SI units: FLOP/s, bytes, bytes/s (1 GB = 1e9 bytes).

GPU sources (vendor datasheets):

- A100-80GB SXM: NVIDIA A100 Tensor Core GPU datasheet (2021): 312 TFLOP/s dense BF16,
  80 GB HBM2e at 2,039 GB/s, NVLink 3 at 600 GB/s (bidirectional aggregate over 12 links).
- H100-80GB SXM: NVIDIA H100 Tensor Core GPU datasheet (2023): 989 TFLOP/s dense BF16
  (the 1,979 figure is with 2:4 sparsity), 80 GB HBM3 at 3.35 TB/s, NVLink 4 at 900 GB/s.
- H200 SXM: NVIDIA H200 Tensor Core GPU datasheet (2024): same compute die as H100,
  141 GB HBM3e at 4.8 TB/s, NVLink 4 at 900 GB/s.

Host and network links (our documented choices, one direction, per GPU):

- ``pcie_bandwidth`` is an *effective* host<->device copy rate with pinned memory: ~25 GB/s on
  PCIe 4.0 x16 (A100; 32 GB/s nominal), ~50 GB/s on PCIe 5.0 x16 (H100/H200; 64 GB/s
  nominal). The cost model applies no further efficiency factor to it.
- ``internode_bandwidth`` is the nominal per-GPU network link of the DGX systems: one
  200 Gb/s HDR InfiniBand HCA per GPU on DGX A100 (= 25 GB/s), one 400 Gb/s NDR ConnectX-7 per
  GPU on DGX H100/H200 (= 50 GB/s). The cost model multiplies it by its link efficiency.
- ``nvlink_bandwidth`` is the datasheet (bidirectional) figure; one direction is half of it.

Model sources (the ``config.json`` of each model on the Hugging Face Hub):
``meta-llama/Meta-Llama-3-8B``, ``meta-llama/Meta-Llama-3-70B``, ``mistralai/Mistral-7B-v0.1``,
``mistralai/Mixtral-8x7B-v0.1``; parameter counts as published by the model authors (Mixtral:
46.7B total, 12.9B active per token with top-2 of 8 experts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BYTES_PER_PARAM = 2
"""bf16 weights and KV cache."""


@dataclass(frozen=True)
class GPUSpec:
    """One GPU model and the links around it (SI units)."""

    name: str
    flops: float
    """Dense bf16 tensor-core peak, FLOP/s."""
    hbm_bytes: float
    """HBM capacity, bytes."""
    hbm_bandwidth: float
    """HBM bandwidth, bytes/s."""
    nvlink_bandwidth: float
    """NVLink bandwidth per GPU, bidirectional aggregate (datasheet), bytes/s."""
    pcie_bandwidth: float
    """Effective host<->device copy bandwidth, one direction, bytes/s."""
    internode_bandwidth: float
    """Network bandwidth per GPU between nodes, one direction, bytes/s."""
    gpus_per_node: int = 8
    """GPUs sharing one NVLink/NVSwitch domain."""


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer; ``num_experts > 1`` means a Mixture-of-Experts MLP."""

    name: str
    layers: int
    hidden: int
    q_heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    """Intermediate size of one (gated) MLP / one expert."""
    vocab: int
    params: float
    """Total parameters."""
    active_params: float
    """Parameters touched per token (== params for dense models)."""
    num_experts: int = 1
    experts_per_token: int = 1

    @property
    def is_moe(self) -> bool:
        """True for a Mixture-of-Experts model."""
        return self.num_experts > 1

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes per token over the whole model (bf16 K and V)."""
        return 2 * self.layers * self.kv_heads * self.head_dim * BYTES_PER_PARAM

    @property
    def weight_bytes(self) -> float:
        """Bytes of all weights in bf16."""
        return self.params * BYTES_PER_PARAM


GPUS: dict[str, GPUSpec] = {
    "a100": GPUSpec(
        name="A100-80GB-SXM",
        flops=312e12,
        hbm_bytes=80e9,
        hbm_bandwidth=2.039e12,
        nvlink_bandwidth=600e9,
        pcie_bandwidth=25e9,
        internode_bandwidth=25e9,
    ),
    "h100": GPUSpec(
        name="H100-80GB-SXM",
        flops=989e12,
        hbm_bytes=80e9,
        hbm_bandwidth=3.35e12,
        nvlink_bandwidth=900e9,
        pcie_bandwidth=50e9,
        internode_bandwidth=50e9,
    ),
    "h200": GPUSpec(
        name="H200-141GB-SXM",
        flops=989e12,
        hbm_bytes=141e9,
        hbm_bandwidth=4.8e12,
        nvlink_bandwidth=900e9,
        pcie_bandwidth=50e9,
        internode_bandwidth=50e9,
    ),
}
"""Known GPUs by canonical key."""

MODELS: dict[str, ModelSpec] = {
    "llama-3-8b": ModelSpec(
        name="Llama-3-8B",
        layers=32,
        hidden=4096,
        q_heads=32,
        kv_heads=8,
        head_dim=128,
        ffn=14336,
        vocab=128256,
        params=8.0e9,
        active_params=8.0e9,
    ),
    "llama-3-70b": ModelSpec(
        name="Llama-3-70B",
        layers=80,
        hidden=8192,
        q_heads=64,
        kv_heads=8,
        head_dim=128,
        ffn=28672,
        vocab=128256,
        params=70.6e9,
        active_params=70.6e9,
    ),
    "codellama-34b": ModelSpec(  # Vidur's reference runs (../shared/reference)
        name="CodeLlama-34B",
        layers=48,
        hidden=8192,
        q_heads=64,
        kv_heads=8,
        head_dim=128,
        ffn=22016,
        vocab=32000,
        params=33.7e9,
        active_params=33.7e9,
    ),
    "mistral-7b": ModelSpec(
        name="Mistral-7B",
        layers=32,
        hidden=4096,
        q_heads=32,
        kv_heads=8,
        head_dim=128,
        ffn=14336,
        vocab=32768,
        params=7.2e9,
        active_params=7.2e9,
    ),
    "mixtral-8x7b": ModelSpec(
        name="Mixtral-8x7B",
        layers=32,
        hidden=4096,
        q_heads=32,
        kv_heads=8,
        head_dim=128,
        ffn=14336,
        vocab=32000,
        params=46.7e9,
        active_params=12.9e9,
        num_experts=8,
        experts_per_token=2,
    ),
}
"""Known models by canonical key."""

_GPU_QUALIFIERS: dict[str, frozenset[str]] = {
    "a100": frozenset({"80gb", "sxm", "sxm4"}),
    "h100": frozenset({"80gb", "sxm", "sxm5", "hbm3"}),
    "h200": frozenset({"141gb", "sxm", "sxm5", "hbm3e"}),
}
"""Name parts allowed after the GPU key (anything else, e.g. "40gb" or "pcie", is refused)."""

_MODEL_ALIASES: dict[str, str] = {
    "llama3-8b": "llama-3-8b",
    "llama3-70b": "llama-3-70b",
    # Llama 3.1 keeps the Llama 3 architecture (only RoPE scaling and context length differ).
    "llama-3.1-8b": "llama-3-8b",
    "llama-3.1-70b": "llama-3-70b",
    "llama3.1-8b": "llama-3-8b",
    "llama3.1-70b": "llama-3-70b",
    "code-llama-34b": "codellama-34b",
}
_MODEL_SUFFIXES = re.compile(r"(-(hf|instruct|chat|base|v0\.\d))+$")


def get_gpu(name: str | GPUSpec) -> GPUSpec:
    """Look a GPU up by name, case-insensitively ("a100", "A100-80GB", "NVIDIA H100 SXM5")."""
    if isinstance(name, GPUSpec):
        return name
    key = re.sub(r"[\s_]+", "-", str(name).strip().lower())
    key = key.removeprefix("nvidia-")
    head, *rest = key.split("-")
    if head in GPUS and set(rest) <= _GPU_QUALIFIERS[head]:
        return GPUS[head]
    known = ", ".join(f"{k} ({v.name})" for k, v in GPUS.items())
    raise ValueError(f"unknown GPU {name!r}; known GPUs: {known}")


def get_model(name: str | ModelSpec) -> ModelSpec:
    """Look a model up by name, case-insensitively.

    Accepts e.g. "llama-3-70b", "Llama-3-70B", "meta-llama/Meta-Llama-3-8B",
    "Meta-Llama-3-8B-Instruct", "mistralai/Mixtral-8x7B-v0.1".
    """
    if isinstance(name, ModelSpec):
        return name
    key = re.sub(r"[\s_]+", "-", str(name).strip().lower())
    key = key.rsplit("/", 1)[-1].removeprefix("meta-")
    key = _MODEL_SUFFIXES.sub("", key)
    key = _MODEL_ALIASES.get(key, key)
    if key in MODELS:
        return MODELS[key]
    known = ", ".join(f"{k} ({v.name})" for k, v in MODELS.items())
    raise ValueError(f"unknown model {name!r}; known models: {known}")
