"""Configuration of one simulated cluster (shared by every env of a batch)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from pecgym.sim.costmodel import CostModel

SP_METHODS = ("ulysses", "ring")


class ConfigError(ValueError):
    """An impossible cluster or simulator configuration; the message names the field."""


@dataclass(frozen=True)
class ClusterConfig:
    """A cluster of identical instances (one model replica on ``tp`` GPUs each).

    Attributes:
        model, gpu, tp: what each instance runs on (see :mod:`pecgym.sim.hardware`).
        num_instances: instances in the cluster (at most 64).
        chunk_tokens: prefill tokens carried by one mixed (prefill + decode) iteration.
        chunked_prefill: a prefill running alone on one instance also goes ``chunk_tokens``
            tokens per iteration (Sarathi, vLLM's chunked prefill) instead of in one pass
            (LoongServe, PecSched: one pass over the weights for the whole prompt); a
            sequence-parallel prefill over several instances is one pass either way.
        sp_method: sequence-parallel prefill over several instances: ``"ulysses"`` (fast SP,
            all-to-all) or ``"ring"`` (ring attention).
        sp_tokens_per_instance: KV tokens one instance of an SP group is sized for
            (PecSched's scalability simulator uses 64K).
        short_threshold: inputs longer than this are "long" (PecSched code: 4096).
        starvation_timeout: a long request not started within this many seconds is starved.
        ttft_slo: TTFT service-level objective in seconds (QLLM: 3 s); for latency-sensitive
            requests when the workload labels them, else for every request.
        be_ttft_slo: TTFT objective of best-effort requests in a labelled workload (``None``:
            they have none).
        decision_interval: ``None`` lets the policy decide at every event; a number makes
            decisions only every so many seconds (events in between still happen on time).
        horizon: simulated seconds after which an episode is truncated (``None``: no fixed
            limit).
        drain_time: an episode is truncated this many simulated seconds after its last
            arrival if requests are still unfinished (``None``: no such limit). With neither
            limit, an env whose requests wait with nothing left to happen ends as stalled.
        max_decision_gap: while requests are queued, the policy is asked again at least this
            often (simulated seconds), so waiting on an idle cluster is a choice with a cost,
            not a jump to the horizon. ``None``: waiting runs to the next event, and an env
            with queued requests and nothing left to happen ends at its horizon (stalled
            without one).
        move_budget: per request, how many costly moves a policy may make: preemptions that
            swap or recompute the KV cache, and migrations (each causes a later event: a copy,
            a transfer or a prefill). Pauses that keep the KV on the GPUs are free. ``None``:
            unlimited. With a budget, every episode has a bounded number of events
            (``docs/design.md``).
        decode_pool: share of the instances (the last ones, at least 1 and at most all but
            one) that take disaggregated decodes: a START may move the request's decode, at
            the end of its prefill, to the pool instance with the most free KV (PecSched's
            dedicated decode instances, 1 per 8).
        memory_utilization: share of GPU memory usable for weights and KV cache.
        weight_bits: 16 (bf16) or 8 (8-bit weights, e.g. to fit Mixtral-8x7B on one 80 GB GPU).
    """

    model: str = "llama-3-8b"
    gpu: str = "a100"
    tp: int = 1
    num_instances: int = 8
    chunk_tokens: int = 512
    chunked_prefill: bool = False
    sp_method: str = "ulysses"
    sp_tokens_per_instance: int = 65536
    short_threshold: int = 4096
    starvation_timeout: float = 300.0
    ttft_slo: float = 3.0
    be_ttft_slo: float | None = None
    decision_interval: float | None = None
    horizon: float | None = None
    drain_time: float | None = 300.0
    max_decision_gap: float | None = 1.0
    move_budget: int | None = 4
    decode_pool: float = 0.125
    memory_utilization: float = 0.9
    weight_bits: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.num_instances <= 64:
            raise ConfigError(f"num_instances must be in [1, 64], got {self.num_instances}")
        if self.chunk_tokens < 1:
            raise ConfigError(f"chunk_tokens must be >= 1, got {self.chunk_tokens}")
        if self.sp_method not in SP_METHODS:
            raise ConfigError(f"sp_method must be one of {SP_METHODS}, got {self.sp_method!r}")
        if self.sp_tokens_per_instance < 1:
            raise ConfigError("sp_tokens_per_instance must be >= 1")
        if self.short_threshold < 1:
            raise ConfigError(f"short_threshold must be >= 1, got {self.short_threshold}")
        if self.starvation_timeout <= 0 or self.ttft_slo <= 0:
            raise ConfigError("starvation_timeout and ttft_slo must be > 0")
        if self.be_ttft_slo is not None and not self.be_ttft_slo > 0:
            raise ConfigError(f"be_ttft_slo must be > 0, got {self.be_ttft_slo}")
        if self.drain_time is not None and not self.drain_time > 0:
            raise ConfigError(f"drain_time must be > 0, got {self.drain_time}")
        if self.move_budget is not None and self.move_budget < 0:
            raise ConfigError(f"move_budget must be >= 0, got {self.move_budget}")
        if not 0 <= self.decode_pool < 1:
            raise ConfigError(f"decode_pool must be in [0, 1), got {self.decode_pool}")
        if self.decision_interval is not None and not self.decision_interval > 0:
            raise ConfigError(f"decision_interval must be > 0, got {self.decision_interval}")
        if self.max_decision_gap is not None and not self.max_decision_gap > 0:
            raise ConfigError(f"max_decision_gap must be > 0, got {self.max_decision_gap}")
        if self.horizon is not None and not self.horizon > 0:
            raise ConfigError(f"horizon must be > 0, got {self.horizon}")
        if not 0 < self.memory_utilization <= 1:
            raise ConfigError("memory_utilization must be in (0, 1]")
        _ = self.cost_model  # validates model, gpu and tp (and that the weights fit)

    @cached_property
    def cost_model(self) -> CostModel:
        """The cost model of one instance."""
        try:
            return CostModel(
                self.model,
                self.gpu,
                self.tp,
                memory_utilization=self.memory_utilization,
                chunk_tokens=self.chunk_tokens,
                weight_bits=self.weight_bits,
            )
        except ValueError as error:
            raise ConfigError(str(error)) from error

    @property
    def kv_capacity(self) -> int:
        """KV-cache tokens that fit on one instance."""
        return int(self.cost_model.kv_capacity_tokens)

    @property
    def decode_pool_size(self) -> int:
        """Instances (the last ones) that take disaggregated decodes (0 on one instance)."""
        if self.num_instances < 2 or self.decode_pool == 0:
            return 0
        return int(
            min(max(math.ceil(self.decode_pool * self.num_instances), 1), self.num_instances - 1)
        )

    @property
    def instances_per_node(self) -> int:
        """Instances sharing one server (NVLink domain)."""
        return max(1, self.cost_model.gpu.gpus_per_node // self.tp)
