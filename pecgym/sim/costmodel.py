"""Roofline cost model of LLM inference on one model instance (``tp`` GPUs).

Every time is in seconds. Every time function takes scalars or NumPy arrays, broadcasts them,
and returns a ``float`` when all inputs are scalars, a float64 array otherwise.

Notation (per layer, per GPU of a tensor-parallel instance): ``L`` layers, peak FLOP/s ``F``,
HBM bandwidth ``B``, efficiency factors ``e_*`` (see :class:`Efficiency`), and the smooth
roofline ``smax(a, b) = (a**p + b**p) ** (1 / p)`` with ``p = e.roofline_exponent`` (a hard
``max`` overestimates speed near the memory/compute crossover, ~150 tokens on A100).

- Linear layers (QKV/O projections, MLP, norms, RoPE, activation, residual add: the ops of
  vidur's ``mlp.csv`` without the embedding), ``n`` tokens::

      t_mm   = smax((W + a_mm * n) / (B * e.hbm_bandwidth), 2 * P_act * n / (F * e.matmul_flops))
      t_elem = a_el * n / (B * e.elementwise_bandwidth) + e.layer_latency
      linear_time(n) = L * (t_mm + t_elem)              (0 when n == 0)

  ``W`` = weight bytes read (MoE: attention + router + expected distinct experts touched,
  ``E * (1 - (1 - k/E)**n)`` for top-``k`` of ``E`` experts), ``P_act`` = active linear
  parameters, ``a_mm``/``a_el`` = activation bytes per token moved by the matmuls / the
  element-wise ops (all divided by ``tp`` where the op is sharded).
- Attention, ``q`` query tokens, ``pairs`` causal (query, key) pairs, ``kv`` keys read::

      t_attn = L * smax((kv * kv_layer + q * 2 * q_dim * 2) / (B * e.hbm_bandwidth),
                        4 * q_dim * pairs / (F * e.attention_flops))

  Prefill of ``n`` tokens after ``c`` cached ones: ``pairs = n*c + n*(n+1)/2``,
  ``kv = c + n``. Decode of ``b`` sequences holding ``C`` tokens in total: ``pairs = kv = C``.
- TP all-reduce (ring over NVLink, one direction = ``nvlink_bandwidth / 2``), 2 per layer of
  ``n * hidden * 2`` bytes::

      L * 2 * (e.collective_latency + 2 (tp-1)/tp * bytes / (nvlink/2 * e.link_bandwidth))

- An iteration adds ``e.iteration_overhead`` (scheduler, input preparation, kernel launches,
  embedding, LM head and sampling) once. A mixed iteration makes one pass over the weights
  for the prefill chunk and the decode batch together::

      iteration_time(p, b, C) = overhead + linear(p + b) + attn_prefill(p) + attn_decode(b, C)
                                + allreduce(p + b)

- Sequence parallelism over ``sp`` instances (each holds ``n / sp`` tokens):

  * ``ulysses`` (DeepSpeed-Ulysses): attention is split by heads, so it costs
    ``attn(n, c) / min(sp, q_heads / tp)``; per layer 4 all-to-alls (q, k, v, o) moving
    ``(n / sp) * (hidden / tp) * 2 * (sp - 1) / sp`` bytes per GPU each (k and v are charged at
    full hidden size: GQA heads are replicated once ``sp * tp`` exceeds ``kv_heads``).
  * ``ring`` (ring attention, the slow-SP ablation): the sequence is split into ``sp``
    contiguous chunks without load balancing, so the instance holding the last chunk
    (``m = n / sp`` queries over all ``c + n`` keys) sets the pace; ``sp - 1`` K/V block
    transfers of ``(c + n) / sp`` tokens per layer, of which ``1 - e.ring_overlap`` is not
    hidden behind compute. For long inputs ring is ~2x slower in attention than Ulysses.

  Collectives use NVLink when the ``sp * tp`` GPUs fit in one node, the inter-node link
  (``internode_bandwidth * e.link_bandwidth``) otherwise.
- KV transfer between instances / swap to host: each of the ``tp`` GPUs moves its shard in
  parallel, over NVLink (one direction), the inter-node link, or PCIe (``pcie_bandwidth`` is
  already an effective rate); KV transfers add ``e.transfer_latency``.
- Memory: per GPU ``hbm * memory_utilization`` holds the weight shard, an activation reserve
  (1 GB for CUDA graphs / workspaces / NCCL buffers plus the activations of a
  ``chunk_tokens`` forward pass) and the KV cache.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

from pecgym.sim.hardware import BYTES_PER_PARAM, GPUSpec, ModelSpec, get_gpu, get_model

WEIGHT_BITS = (16, 8)
"""Supported weight precisions: bf16, or 8-bit weights (weight-only quantisation: half the
weight memory and weight reads; matmuls still run in bf16, so compute time is unchanged)."""

FloatOrArray = float | np.ndarray
SP_METHODS = ("ulysses", "ring")
ACTIVATION_RESERVE_FIXED = 1e9
"""Bytes per GPU kept for CUDA graphs, cuBLAS/attention workspaces and NCCL buffers."""


@dataclass(frozen=True)
class Efficiency:
    """Achieved fractions of peak and fixed latencies (defaults: A100, calibrated).

    The A100 values were fitted to vidur's public A100 profiles (``mlp.csv`` of Llama-3-8B
    TP1 and Llama-3-70B TP4, every token count from 1 to 4096; ``all_reduce.csv`` of the
    DGX-A100 for 2-8 GPUs) and rounded; they lie in the ranges of DOMAIN.md section 4.
    """

    matmul_flops: float = 0.72
    """Linear-layer GEMMs, fraction of peak FLOP/s (fit: 0.72; DOMAIN: 65-75% on A100)."""
    attention_flops: float = 0.5
    """FlashAttention-2 forward, fraction of peak FLOP/s (FA2 paper: 50-73% on A100)."""
    hbm_bandwidth: float = 0.75
    """Weight and KV reads, fraction of HBM bandwidth (fit: 1-token GEMMs reach ~0.75-0.78;
    DOMAIN: decode reaches 60-80%)."""
    elementwise_bandwidth: float = 0.45
    """Norms, RoPE, activation and residual add, fraction of HBM bandwidth (fit: vidur's
    element-wise kernels reach ~0.45-0.5 at 4096 tokens)."""
    link_bandwidth: float = 0.55
    """NVLink / network collectives, fraction of one-direction link bandwidth (fit to the
    DGX-A100 all-reduce profile: bus bandwidth ~165 GB/s of 300 GB/s at 64 MB)."""
    collective_latency: float = 40e-6
    """Fixed cost of one all-reduce / all-to-all, s (fit: small all-reduces take 30-60 us)."""
    layer_latency: float = 30e-6
    """Launch cost of one layer's element-wise kernels, s (vidur: ~27 us at 1 token)."""
    iteration_overhead: float = 5e-3
    """Fixed cost per engine iteration, s: scheduling, input preparation, embedding, LM head,
    sampling (DOMAIN: a few ms)."""
    attention_half_length: float = 2140.0
    """Keys per query at which attention reaches half of ``attention_flops`` (short sequences
    leave FlashAttention's tiles under-filled): the compute time is scaled by
    ``1 + attention_half_length / keys_per_query`` (fit: prefill attention of 2048 tokens,
    CodeLlama-34B TP2 on A100, 32.7 ms over 48 layers in vidur's profile; at 1M tokens the
    factor is ~1, where MInference's ~30 min for Llama-3-8B on one A100 holds)."""
    roofline_exponent: float = 1.75
    """``p`` of the smooth roofline ``(t_mem**p + t_compute**p)**(1/p)`` (fit)."""
    ring_overlap: float = 0.5
    """Fraction of ring-attention K/V traffic hidden behind compute (our choice)."""
    transfer_latency: float = 0.5e-3
    """Fixed setup cost of one KV transfer between instances, s (our choice)."""

    def __post_init__(self) -> None:
        for name in (
            "matmul_flops",
            "attention_flops",
            "hbm_bandwidth",
            "elementwise_bandwidth",
            "link_bandwidth",
        ):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"Efficiency.{name} must be in (0, 1], got {value}")
        if not 0.0 <= self.ring_overlap <= 1.0:
            raise ValueError(f"Efficiency.ring_overlap must be in [0, 1], got {self.ring_overlap}")
        if self.roofline_exponent < 1.0:
            raise ValueError(
                f"Efficiency.roofline_exponent must be >= 1, got {self.roofline_exponent}"
            )
        for name in (
            "collective_latency",
            "layer_latency",
            "iteration_overhead",
            "attention_half_length",
        ):
            if getattr(self, name) < 0.0:
                raise ValueError(f"Efficiency.{name} must be >= 0")
        if self.transfer_latency < 0.0:
            raise ValueError("Efficiency.transfer_latency must be >= 0")


_HOPPER = Efficiency(matmul_flops=0.6, attention_flops=0.4, hbm_bandwidth=0.7)
"""H100/H200: DOMAIN.md gives 50-70% GEMM efficiency; FlashAttention-2 reaches ~35-45% of
the H100 peak; HBM3 reads slightly less efficient than on A100 (not calibrated)."""

DEFAULT_EFFICIENCY: dict[str, Efficiency] = {
    "a100": Efficiency(),
    "h100": _HOPPER,
    "h200": _HOPPER,
}
"""Default factors per GPU key of :data:`pecgym.sim.hardware.GPUS`."""


def default_efficiency(gpu: str | GPUSpec) -> Efficiency:
    """The default :class:`Efficiency` of a GPU (A100 factors for unknown custom specs)."""
    spec = get_gpu(gpu)
    for key, value in DEFAULT_EFFICIENCY.items():
        if get_gpu(key) == spec:
            return value
    return Efficiency()


def _smax(a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    """Smooth maximum ``(a**p + b**p)**(1/p)`` of non-negative arrays."""
    return libm_pow(libm_pow(a, p) + libm_pow(b, p), 1.0 / p)


def libm_pow(base: ArrayLike, exponent: ArrayLike) -> np.ndarray:
    """``base ** exponent`` elementwise by the C library's ``pow`` (``math.pow``).

    NumPy's ``power`` runs SIMD code on some CPUs (AVX-512) whose last bit differs from
    ``pow`` in about 5% of cases, so times would depend on the machine; compiled code (the
    numba clock) calls ``pow`` too, so both paths agree bit for bit.
    """
    b, x = np.broadcast_arrays(np.asarray(base, np.float64), np.asarray(exponent, np.float64))
    flat = map(math.pow, b.ravel().tolist(), x.ravel().tolist())
    return np.fromiter(flat, np.float64, b.size).reshape(b.shape)


def _arrays(*values: ArrayLike) -> tuple[bool, list[np.ndarray]]:
    """Broadcast inputs to float64 arrays; reject negatives and NaNs."""
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    scalar = all(a.ndim == 0 for a in arrays)
    for a in arrays:
        if a.size and not a.min() >= 0.0:  # also false for NaN
            raise ValueError("token counts, batch sizes and contexts must be >= 0")
    shape = arrays[0].shape
    if all(a.shape == shape for a in arrays):
        return scalar, arrays
    return scalar, list(np.broadcast_arrays(*arrays))


def _out(scalar: bool, value: np.ndarray) -> FloatOrArray:
    return float(value) if scalar else np.asarray(value, dtype=np.float64)


class CostModel:
    """Time and memory of one model instance (``tp`` GPUs of one node).

    Args:
        model: model name or :class:`ModelSpec`.
        gpu: GPU name or :class:`GPUSpec`.
        tp: tensor-parallel degree (power of two, at most ``gpus_per_node``).
        efficiency: factors; default :func:`default_efficiency` of ``gpu``.
        memory_utilization: fraction of HBM usable for weights, activations and KV.
        chunk_tokens: prefill chunk size of the engine (sizes the activation reserve).
    """

    def __init__(
        self,
        model: str | ModelSpec,
        gpu: str | GPUSpec,
        tp: int = 1,
        *,
        efficiency: Efficiency | None = None,
        memory_utilization: float = 0.9,
        chunk_tokens: int = 512,
        weight_bits: int = 16,
    ) -> None:
        self.model: ModelSpec = get_model(model)
        self.gpu: GPUSpec = get_gpu(gpu)
        self.efficiency: Efficiency = (
            default_efficiency(self.gpu) if efficiency is None else efficiency
        )
        self.tp: int = self._check_tp(tp)
        if not 0.0 < memory_utilization <= 1.0:
            raise ValueError(f"memory_utilization must be in (0, 1], got {memory_utilization}")
        if isinstance(chunk_tokens, bool) or int(chunk_tokens) != chunk_tokens or chunk_tokens < 1:
            raise ValueError(f"chunk_tokens must be a positive integer, got {chunk_tokens!r}")
        self.memory_utilization = float(memory_utilization)
        self.chunk_tokens = int(chunk_tokens)
        if weight_bits not in WEIGHT_BITS:
            raise ValueError(f"weight_bits must be one of {WEIGHT_BITS}, got {weight_bits!r}")
        self.weight_bits = int(weight_bits)
        self._weight_bytes_per_param = weight_bits / 8
        self._precompute()
        self._check_memory()

    # ------------------------------------------------------------------ setup
    def _check_tp(self, tp: int) -> int:
        m, g = self.model, self.gpu
        if isinstance(tp, bool) or not isinstance(tp, (int, np.integer)):
            raise ValueError(f"tp must be an integer, got {tp!r}")
        tp = int(tp)
        if tp < 1 or tp & (tp - 1):
            raise ValueError(f"tp must be a power of two >= 1, got {tp}")
        if tp > g.gpus_per_node:
            raise ValueError(f"tp={tp} exceeds the {g.gpus_per_node} GPUs of a {g.name} node")
        if m.q_heads % tp or (m.kv_heads % tp and tp % m.kv_heads):
            raise ValueError(
                f"tp={tp} does not divide the heads of {m.name} "
                f"({m.q_heads} query, {m.kv_heads} KV heads)"
            )
        return tp

    def _precompute(self) -> None:
        m, tp = self.model, self.tp
        h, hd = m.hidden, m.head_dim
        self._q_dim = m.q_heads * hd
        kv_dim = m.kv_heads * hd
        k = m.experts_per_token
        attn_params = h * (self._q_dim + 2 * kv_dim) + self._q_dim * h
        router_params = h * m.num_experts if m.is_moe else 0
        self._attn_router_params = (attn_params + router_params) / tp
        self._expert_params = 3 * h * m.ffn / tp
        self._active_params = self._attn_router_params + k * self._expert_params
        bp = BYTES_PER_PARAM
        # Activation bytes per token per GPU: matmul inputs/outputs and element-wise traffic.
        self._act_mm = bp * (2 * h + 2 * (self._q_dim + kv_dim) / tp + k * (2 * h + 3 * m.ffn / tp))
        self._act_el = bp * (7 * h + 2 * (self._q_dim + kv_dim) / tp + k * 3 * m.ffn / tp)
        kv_heads_per_gpu = max(m.kv_heads // tp, 1)
        self._kv_layer_gpu = 2 * kv_heads_per_gpu * hd * bp
        self._kv_token_gpu = m.layers * self._kv_layer_gpu
        self._attn_shards_max = m.q_heads // tp
        self._nvlink = self.gpu.nvlink_bandwidth / 2 * self.efficiency.link_bandwidth
        self._internode = self.gpu.internode_bandwidth * self.efficiency.link_bandwidth
        self._hbm = self.gpu.hbm_bandwidth
        e, q_dim = self.efficiency, self._q_dim / tp
        self.attention_coefficients = (
            float(self._kv_layer_gpu),
            2.0 * q_dim * BYTES_PER_PARAM,
            self._hbm * e.hbm_bandwidth,
            float(e.attention_half_length),
            4.0 * q_dim,
            self.gpu.flops * e.attention_flops,
            float(m.layers),
            float(e.roofline_exponent),
        )
        """The attention formula's constants, in :meth:`_attention`'s order: KV bytes per
        key and layer, query bytes per token, HBM rate, half length, FLOPs per pair, FLOP/s,
        layers, roofline exponent (the compiled clock computes decode attention from them)."""

    def _check_memory(self) -> None:
        if self.kv_capacity_tokens >= self.chunk_tokens:
            return
        m, g, tp = self.model, self.gpu, self.tp
        budget = g.hbm_bytes * self.memory_utilization
        raise ValueError(
            f"{m.name} does not fit on {tp}x {g.name} (tp={tp}): per GPU, weights "
            f"{self.weight_bytes_per_gpu / 1e9:.1f} GB (of {m.weight_bytes / 1e9:.1f} GB) + "
            f"activation reserve {self.activation_reserve_bytes / 1e9:.1f} GB + KV of one "
            f"{self.chunk_tokens}-token chunk exceed {budget / 1e9:.1f} GB "
            f"= {g.hbm_bytes / 1e9:.0f} GB x {self.memory_utilization} memory utilization"
        )

    # ------------------------------------------------------------ properties
    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes per token of the whole model."""
        return self.model.kv_bytes_per_token

    @property
    def weight_bytes_per_gpu(self) -> float:
        """Weight bytes held by each GPU of the instance (at ``weight_bits`` per parameter)."""
        return self.model.params * self._weight_bytes_per_param / self.tp

    @property
    def activation_reserve_bytes(self) -> float:
        """Bytes per GPU kept for activations and workspaces."""
        m = self.model
        per_token = BYTES_PER_PARAM * (4 * m.hidden + 3 * m.experts_per_token * m.ffn / self.tp)
        return ACTIVATION_RESERVE_FIXED + self.chunk_tokens * per_token

    @property
    def kv_capacity_tokens(self) -> int:
        """KV tokens that fit on one instance after weights and the activation reserve."""
        free = (
            self.gpu.hbm_bytes * self.memory_utilization
            - self.weight_bytes_per_gpu
            - self.activation_reserve_bytes
        )
        return max(math.floor(free / self._kv_token_gpu), 0)

    @property
    def iteration_overhead(self) -> float:
        """Fixed cost of one engine iteration, s."""
        return self.efficiency.iteration_overhead

    # ------------------------------------------------------------ components
    def _linear(self, n: np.ndarray) -> np.ndarray:
        m, e, g = self.model, self.efficiency, self.gpu
        if m.is_moe:
            frac = m.experts_per_token / m.num_experts
            touched = m.num_experts * (1.0 - libm_pow(1.0 - frac, n))
        else:
            touched = 1.0
        weights = self._weight_bytes_per_param * (
            self._attn_router_params + touched * self._expert_params
        )
        t_mem = (weights + self._act_mm * n) / (self._hbm * e.hbm_bandwidth)
        t_cmp = 2.0 * self._active_params * n / (g.flops * e.matmul_flops)
        t_el = self._act_el * n / (self._hbm * e.elementwise_bandwidth) + e.layer_latency
        t = m.layers * (_smax(t_mem, t_cmp, e.roofline_exponent) + t_el)
        return np.where(n > 0, t, 0.0)

    def _attention(self, queries: np.ndarray, pairs: np.ndarray, kv: np.ndarray) -> np.ndarray:
        kv_layer, q_bytes, hbm, half, flop_per_pair, flops, layers, p = self.attention_coefficients
        t_mem = (kv * kv_layer + queries * q_bytes) / hbm
        keys_per_query = np.maximum(pairs, 1.0) / np.maximum(queries, 1.0)
        t_cmp = flop_per_pair * pairs * (1.0 + half / keys_per_query) / flops
        t = layers * _smax(t_mem, t_cmp, p)
        return np.where(queries > 0, t, 0.0)

    def _prefill_attention(self, n: np.ndarray, c: np.ndarray) -> np.ndarray:
        return self._attention(n, n * c + n * (n + 1.0) / 2.0, c + n)

    def _allreduce(self, n: np.ndarray) -> np.ndarray:
        if self.tp == 1:
            return np.zeros_like(n)
        tp, e = self.tp, self.efficiency
        nbytes = n * self.model.hidden * BYTES_PER_PARAM
        one = e.collective_latency + 2.0 * (tp - 1) / tp * nbytes / self._nvlink
        return np.where(n > 0, 2 * self.model.layers * one, 0.0)

    def _iteration(
        self, p: np.ndarray, pc: np.ndarray, b: np.ndarray, ctx: np.ndarray
    ) -> np.ndarray:
        tokens = p + b
        t = (
            self.efficiency.iteration_overhead
            + self._linear(tokens)
            + self._prefill_attention(p, pc)
            + self._attention(b, ctx, ctx)
            + self._allreduce(tokens)
        )
        return np.where(tokens > 0, t, 0.0)

    # ---------------------------------------------------------------- public
    def linear_time(self, tokens: ArrayLike) -> FloatOrArray:
        """Non-attention layers of a forward pass over ``tokens`` tokens (no overhead/comm)."""
        scalar, (n,) = _arrays(tokens)
        return _out(scalar, self._linear(n))

    def attention_prefill_time(self, tokens: ArrayLike, context: ArrayLike = 0) -> FloatOrArray:
        """Causal attention of ``tokens`` new tokens over ``context`` cached ones and themselves."""
        scalar, (n, c) = _arrays(tokens, context)
        return _out(scalar, self._prefill_attention(n, c))

    def tp_allreduce_time(self, tokens: ArrayLike) -> FloatOrArray:
        """The 2 all-reduces per layer of a forward pass over ``tokens`` tokens (0 at tp=1)."""
        scalar, (n,) = _arrays(tokens)
        return _out(scalar, self._allreduce(n))

    def prefill_time(
        self,
        tokens: ArrayLike,
        context: ArrayLike = 0,
        sp: ArrayLike = 1,
        sp_method: str = "ulysses",
    ) -> FloatOrArray:
        """Wall time for ``sp`` instances to prefill ``tokens`` new tokens as one job."""
        if sp_method not in SP_METHODS:
            raise ValueError(f"sp_method must be one of {SP_METHODS}, got {sp_method!r}")
        scalar, (n, c, s) = _arrays(tokens, context, sp)
        if not np.all(s >= 1):
            raise ValueError("sp must be >= 1")
        return _out(scalar, self._prefill(n, c, s, sp_method))

    def chunked_prefill_time(self, tokens: ArrayLike, chunk: int | None = None) -> FloatOrArray:
        """Wall time for one instance to prefill ``tokens`` new tokens alone in chunks of
        ``chunk`` tokens (default: the engine's ``chunk_tokens``), one iteration each, every
        chunk attending to the chunks before it (Sarathi's chunked prefill)."""
        scalar, (n,) = _arrays(tokens)
        chunk = self.chunk_tokens if chunk is None else int(chunk)
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        total, zero = np.zeros_like(n), np.zeros_like(n)
        done = 0.0
        while (n > done).any():
            part = np.minimum(np.maximum(n - done, 0.0), chunk)
            total = total + self._iteration(part, np.full_like(n, done), zero, zero)
            done += chunk
        return _out(scalar, total)

    def prefill_time_unchecked(
        self, tokens: np.ndarray, sp: np.ndarray, sp_method: str
    ) -> np.ndarray:
        """:meth:`prefill_time` without cached context, unchecked: the simulator's hot path.

        ``tokens`` is a float array of token counts and ``sp`` an integer array (>= 1) of
        one shape; ``sp_method`` must be valid.
        """
        return self._prefill(tokens, 0.0, sp, sp_method)

    def _prefill(self, n, c, s, sp_method: str) -> np.ndarray:
        e, layers = self.efficiency, self.model.layers
        local = n / s
        bw = np.where(s * self.tp <= self.gpu.gpus_per_node, self._nvlink, self._internode)
        multi = s > 1
        if sp_method == "ulysses":
            attn = self._prefill_attention(n, c) / np.minimum(s, self._attn_shards_max)
            a2a = local * (self.model.hidden / self.tp) * BYTES_PER_PARAM * (s - 1) / s
            comm = layers * 4 * (e.collective_latency + a2a / bw)
        else:
            pairs = local * (c + n - local) + local * (local + 1.0) / 2.0
            attn = self._attention(local, pairs, c + n)
            block = (c + n) / s * self._kv_layer_gpu
            comm = (1.0 - e.ring_overlap) * layers * (s - 1) * (e.collective_latency + block / bw)
        t = (
            e.iteration_overhead
            + self._linear(local)
            + attn
            + self._allreduce(local)
            + np.where(multi, comm, 0.0)
        )
        return np.where(n > 0, t, 0.0)

    def step_time(
        self, prefill_tokens: np.ndarray, decode_batch: np.ndarray, decode_context: np.ndarray
    ) -> np.ndarray:
        """:meth:`iteration_time` for integer token counts, unchecked: the simulator's hot path.

        ``prefill_tokens`` and ``decode_batch`` are non-negative integer arrays and
        ``decode_context`` a float array of one shape. Linear layers, all-reduce and prefill
        attention are looked up in tables built from the same formulas.
        """
        tokens = prefill_tokens + decode_batch
        token_table, prefill_table = self.step_tables(int(tokens.max(initial=0)))
        t = token_table[tokens] + prefill_table[prefill_tokens]
        t = t + self._attention(decode_batch, decode_context, decode_context)
        return np.where(tokens > 0, t, 0.0)

    def step_tables(self, top: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`step_time`'s lookup tables, covering token counts up to ``top``: per
        count, overhead + linear layers + all-reduce, and the attention of a prefill chunk."""
        if top >= self._table_size:
            self._grow_tables(top)
        return self._token_table, self._prefill_table

    _table_size = 0

    def _grow_tables(self, top: int) -> None:
        size = max(2 * top + 1, 1024)
        n = np.arange(size, dtype=np.float64)
        self._token_table = np.where(
            n > 0, self.efficiency.iteration_overhead + self._linear(n) + self._allreduce(n), 0.0
        )
        self._prefill_table = self._prefill_attention(n, np.zeros_like(n))
        self._table_size = size

    def decode_step_time(self, batch: ArrayLike, context: ArrayLike) -> FloatOrArray:
        """One decode iteration of ``batch`` sequences holding ``context`` KV tokens in total."""
        scalar, (b, ctx) = _arrays(batch, context)
        zero = np.zeros_like(b)
        return _out(scalar, self._iteration(zero, zero, b, ctx))

    def iteration_time(
        self,
        prefill_tokens: ArrayLike,
        decode_batch: ArrayLike,
        decode_context: ArrayLike,
        prefill_context: ArrayLike = 0,
    ) -> FloatOrArray:
        """One mixed iteration: a prefill chunk (after ``prefill_context`` cached tokens of
        its request) plus a decode batch holding ``decode_context`` KV tokens in total."""
        scalar, (p, b, ctx, pc) = _arrays(
            prefill_tokens, decode_batch, decode_context, prefill_context
        )
        return _out(scalar, self._iteration(p, pc, b, ctx))

    def kv_transfer_time(
        self, tokens: ArrayLike, cross_node: bool | np.ndarray = False
    ) -> FloatOrArray:
        """Move the KV of ``tokens`` tokens between two instances (0 for 0 tokens).

        ``cross_node`` (a bool, or one per token count) says the instances are on
        different nodes, so the copy goes over the inter-node network instead of NVLink.
        """
        scalar, (n,) = _arrays(tokens)
        if isinstance(cross_node, np.ndarray):
            bw = np.where(cross_node, self._internode, self._nvlink)
        else:
            bw = self._internode if cross_node else self._nvlink
        t = self.efficiency.transfer_latency + n * self._kv_token_gpu / bw
        return _out(scalar, np.where(n > 0, t, 0.0))

    def transfer_coefficients(self) -> tuple[float, float, float, float]:
        """What :meth:`kv_transfer_time` is made of: latency (s), KV bytes per token per GPU,
        NVLink and inter-node bandwidth (bytes/s); the compiled event clock uses them."""
        return (
            float(self.efficiency.transfer_latency),
            float(self._kv_token_gpu),
            float(self._nvlink),
            float(self._internode),
        )

    def swap_time(self, tokens: ArrayLike) -> FloatOrArray:
        """Copy the KV of ``tokens`` tokens one way between GPU and host memory over PCIe."""
        scalar, (n,) = _arrays(tokens)
        return _out(scalar, n * self._kv_token_gpu / self.gpu.pcie_bandwidth)

    def describe(self) -> dict[str, object]:
        """Key figures of this instance (JSON-serialisable)."""
        m, g = self.model, self.gpu
        return {
            "model": m.name,
            "gpu": g.name,
            "tp": self.tp,
            "weight_bits": self.weight_bits,
            "weights_gb": self.weight_bytes_per_gpu * self.tp / 1e9,
            "weights_per_gpu_gb": self.weight_bytes_per_gpu / 1e9,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "kv_capacity_tokens": self.kv_capacity_tokens,
            "kv_capacity_gb": self.kv_capacity_tokens * self.kv_bytes_per_token / 1e9,
            "activation_reserve_gb_per_gpu": self.activation_reserve_bytes / 1e9,
            "memory_utilization": self.memory_utilization,
            "chunk_tokens": self.chunk_tokens,
            "overhead_ms": self.iteration_overhead * 1e3,
            "peak_tflops_per_gpu": g.flops / 1e12,
            "hbm_tb_per_s_per_gpu": g.hbm_bandwidth / 1e12,
            "efficiency": {f.name: getattr(self.efficiency, f.name) for f in fields(Efficiency)},
        }

    def __repr__(self) -> str:
        return (
            f"CostModel(model={self.model.name!r}, gpu={self.gpu.name!r}, tp={self.tp}, "
            f"efficiency={asdict(self.efficiency)})"
        )
