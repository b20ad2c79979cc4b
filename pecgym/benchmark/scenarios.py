"""The benchmark's named scenarios: the PecSched study and the QLLM study, full and reduced.

Every scenario replays the Azure 2023 conversation trace (Splitwise, ISCA'24; CC-BY 4.0),
which the project does not ship: :func:`default_trace_path` looks for it in ``traces/`` and
``../shared/traces/`` beside the project. Choices and the reasons for them:

PecSched (``pecsched``): 16 instances of Mistral-7B (TP1) on A100-80GB, two 8-GPU servers
(PecSched ran 32 A100s; 16 keep a full run to minutes). A random 2000 s window of the trace
(same window per seed for every policy) with arrivals 4x faster (22 req/s, within the
28-45 req/s of the 2024 traces PecSched replayed) and its long tail, the 2.1% of inputs above
the code's 4096-token threshold, linearly rescaled into 100K-500K tokens (PecSched's
construction). Long prefills run on SP groups sized for their KV (one instance per 64K
tokens: 2-8 instances). The baselines' systems (LoongServe, FasterTransformer, LightLLM) do
not have PecSched's Ulysses SP, so the scenario's sequence parallelism is ring attention,
the same as the ``pecsched-no-fastsp`` ablation; PecSched and its other ablations declare
``sp_method="ulysses"`` (fast SP is PecSched's technique 3). At this load the baselines'
long work exceeds what ring SP can serve (FIFO's queue blocks behind it), which is where
PecSched's results are claimed.

QLLM (``qllm``): one Mixtral-8x7B instance on one A100-80GB, as in QLLM's paper. Its bf16
weights (93 GB) do not fit 80 GB, so the instance holds 8-bit weights (46.7 GB; weight-only
quantisation: half the weight memory and weight reads, bf16 compute). A random 600 s window
of the trace at its own rate (5.5 req/s), just above what the instance serves at a 3 s TTFT
(QLLM: "SLO met up to 7 req/s where FCFS fails"), so FCFS's single queue grows; 20% of
requests are latency-sensitive (LS), TTFT SLO 3 s.

The reduced variants (``-small``) keep the cluster and rules and cut the window, so tests run
in seconds; the trends they show are weaker versions of the full ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pecgym.benchmark.harness import Scenario
from pecgym.envs.config import EnvConfig

CONV_TRACE = "AzureLLMInferenceTrace_conv.csv"
STUDY_CLUSTER = {"drain_time": 3600.0}
"""The studies run a whole trace window under overload: every policy gets an hour after the
last arrival to finish (what is left then is truncated and counted unfinished)."""
_REPO = Path(__file__).resolve().parents[2]


def default_trace_path() -> Path:
    """The 2023 conversation trace: ``$PECGYM_TRACE``, ``traces/`` in the working directory or
    the project, or ``../shared/traces/`` beside the project."""
    if os.environ.get("PECGYM_TRACE"):
        path = Path(os.environ["PECGYM_TRACE"])
        if not path.is_file():
            raise FileNotFoundError(f"PECGYM_TRACE={path}: no such file")
        return path
    candidates = [
        Path("traces") / CONV_TRACE,
        _REPO / "traces" / CONV_TRACE,
        _REPO.parent / "shared" / "traces" / CONV_TRACE,
    ]
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError(
        f"{CONV_TRACE} not found in traces/ or ../shared/traces/ (set PECGYM_TRACE); "
        "download it from Azure/AzurePublicDataset"
    )


def pecsched_scenario(trace: str | Path | None = None, *, reduced: bool = False) -> Scenario:
    """PecSched's study: head-of-line blocking of short requests behind 100K-500K inputs."""
    source = str(trace or default_trace_path())
    settings = {
        "workload": {
            "source": source,
            "num_requests": None,
            "duration": 300.0 if reduced else 2000.0,
            "rate_scale": 4.0,
            "long_fraction": 0.021,
            "long_range": (100_000, 500_000),
        },
        "cluster": {"model": "mistral-7b", "gpu": "a100", "tp": 1, "num_instances": 16}
        | {"sp_method": "ring", "short_threshold": 4096, "starvation_timeout": 300.0}
        | STUDY_CLUSTER,
    }
    return Scenario(
        name="pecsched-small" if reduced else "pecsched",
        config=EnvConfig.build(settings),
        description=(
            "16 x Mistral-7B (TP1, A100), Azure 2023 conversation trace at 4x its rate, "
            "2.1% of inputs rescaled to 100K-500K tokens; baselines use ring SP"
        ),
    )


def qllm_scenario(trace: str | Path | None = None, *, reduced: bool = False) -> Scenario:
    """QLLM's study: LS requests behind BE ones on one MoE instance."""
    source = str(trace or default_trace_path())
    settings = {
        "workload": {
            "source": source,
            "num_requests": None,
            "duration": 300.0 if reduced else 600.0,
            "rate_scale": 1.0,
            "ls_fraction": 0.2,
        },
        "cluster": {"model": "mixtral-8x7b", "gpu": "a100", "tp": 1, "num_instances": 1}
        | {"weight_bits": 8, "ttft_slo": 3.0}
        | STUDY_CLUSTER,
        # QLLM's measure: the share of LS requests missing the TTFT SLO (BE have none)
        "reward": {"objective": "slo_violations"},
    }
    return Scenario(
        name="qllm-small" if reduced else "qllm",
        config=EnvConfig.build(settings),
        description=(
            "1 x Mixtral-8x7B (8-bit weights, one A100), Azure 2023 conversation trace at its "
            "rate (5.5 req/s), 20% latency-sensitive, 3 s TTFT SLO"
        ),
    )


SCENARIOS: dict[str, Callable[..., Scenario]] = {
    "pecsched": pecsched_scenario,
    "pecsched-small": lambda trace=None: pecsched_scenario(trace, reduced=True),
    "qllm": qllm_scenario,
    "qllm-small": lambda trace=None: qllm_scenario(trace, reduced=True),
}
"""Scenario factories by name (each takes an optional trace path)."""


def get_scenario(name: str, trace: str | Path | None = None) -> Scenario:
    """A named scenario (:data:`SCENARIOS`) on ``trace`` (default: :func:`default_trace_path`)."""
    try:
        factory = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    return factory(trace)
