"""Per-request metrics and episode summaries (all times in seconds).

Vocabulary: queueing delay = arrival to start of execution; TTFT = arrival to first token
(end of prefill); TBT = mean time between later tokens; JCT = arrival to last token;
slowdown = JCT over the request's JCT alone on an idle cluster.
Classes: short/long (input above ``short_threshold``), LS/BE (latency-sensitive label).

Requests that arrived but did not reach a point by the episode's end count, censored at
the end: their queueing delay, TTFT and JCT are the time they have waited so far, their TBT
the time per token so far (requests without a first token have none), so a policy cannot
improve a percentile by not serving. ``censored`` marks them in the request table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pecgym.sim.simulator import ClusterSim
from pecgym.sim.state import DONE, PENDING, ReqState

LATENCY_METRICS = ("queueing_delay", "ttft", "tbt", "jct", "slowdown")
STATISTICS = ("mean", "p50", "p90", "p99")
_PERCENTILES = (50, 90, 99)


def request_columns(sim: ClusterSim, env: int) -> dict[str, np.ndarray]:
    """Per-request arrays of env ``env`` (``state`` as integer codes), censored as the module
    docstring says."""
    n = int(sim.num_requests[env])
    row = (env, slice(0, n))
    arrival = sim.arrival[row]
    output = sim.output_tokens[row]
    start, first, finish = sim.t_start[row], sim.t_first_token[row], sim.t_finish[row]
    clock = sim.clock[env]
    arrived = sim.state[row] != PENDING

    def censored(t: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(t) & arrived, clock, t)

    generated = np.where(np.isnan(finish), sim.generated[row], output)
    with np.errstate(invalid="ignore", divide="ignore"):
        tbt = np.where(
            generated > 1,
            (censored(finish) - first) / (generated - 1),
            np.where(np.isnan(finish), clock - first, np.nan),
        )
    jct = censored(finish) - arrival
    return {
        "arrival": arrival,
        "input_tokens": sim.input_tokens[row],
        "output_tokens": output,
        "is_long": sim.is_long[row],
        "latency_sensitive": sim.latency_sensitive[row],
        "state": sim.state[row],
        "t_start": start,
        "t_first_token": first,
        "t_finish": finish,
        "censored": arrived & np.isnan(finish),
        "queueing_delay": censored(start) - arrival,
        "ttft": censored(first) - arrival,
        "tbt": tbt,
        "jct": jct,
        "jct_alone": sim.jct_alone[row],
        "slowdown": jct / sim.jct_alone[row],
        "prefill_preemptions": sim.prefill_preemptions[row],
        "decode_preemptions": sim.decode_preemptions[row],
        "evictions": sim.evictions[row],
        "migrations": sim.migrations[row],
    }


def request_frame(sim: ClusterSim, env: int = 0) -> pd.DataFrame:
    """One row per request of env ``env``: workload, state, timestamps and metrics."""
    columns = request_columns(sim, env)
    names = [s.name.lower() for s in ReqState]
    columns["state"] = pd.Categorical.from_codes(columns["state"], names)
    frame = pd.DataFrame(columns)
    frame.index.name = "request"
    return frame


def _statistics(values: np.ndarray) -> list[float]:
    """The :data:`STATISTICS` of the finite values (NaN when there are none)."""
    values = values[np.isfinite(values)]
    if not values.size:
        return [math.nan] * len(STATISTICS)
    return [float(values.mean()), *np.percentile(values, _PERCENTILES).tolist()]


def summarize(sim: ClusterSim, env: int = 0) -> dict:
    """Episode summary of env ``env`` as a flat dict with plain names (``ttft.p50``...)."""
    columns = request_columns(sim, env)
    count = len(columns["arrival"])
    config = sim.config
    clock = float(sim.clock[env])
    state = columns["state"]
    done = state == DONE
    arrived = state != PENDING
    long_ = columns["is_long"]
    labelled = bool(columns["latency_sensitive"].any())
    classes = {"": np.ones(count, dtype=bool), "short": ~long_, "long": long_}
    if labelled:
        ls = columns["latency_sensitive"]
        classes.update({"ls": ls, "be": ~ls})

    out: dict[str, float | int | bool | str] = {
        "requests": count,
        "completed": int(done.sum()),
        "unfinished": int((arrived & ~done).sum()),
        "not_arrived": int((~arrived).sum()),
        "truncated": bool(sim.truncated[env]),
        "stalled": bool(sim.stalled[env]),
        "sim_time": clock,
    }
    per_state = np.bincount(state, minlength=len(ReqState))
    for code in ReqState:
        out[f"state.{code.name.lower()}"] = int(per_state[code])
    for metric in LATENCY_METRICS:
        values = columns[metric]
        for label, mask in classes.items():
            prefix = f"{metric}.{label}." if label else f"{metric}."
            for stat, value in zip(STATISTICS, _statistics(values[mask]), strict=True):
                out[prefix + stat] = value

    first_arrival = float(columns["arrival"].min()) if count else 0.0
    last_finish = float(np.nanmax(columns["t_finish"])) if done.any() else clock
    makespan = max(last_finish - first_arrival, 0.0)
    out["makespan"] = makespan
    rate = (lambda n: n / makespan) if makespan > 0 else (lambda n: math.nan)
    out["throughput_rps"] = rate(done.sum())
    out["short_throughput_rps"] = rate((done & ~long_).sum())
    out["tokens_per_s"] = rate(columns["output_tokens"][done].sum())
    out["long_prefill_preemptions"] = int(columns["prefill_preemptions"][long_].sum())
    out["prefill_preemptions"] = int(columns["prefill_preemptions"].sum())
    out["decode_preemptions"] = int(columns["decode_preemptions"].sum())
    out["kv_evictions"] = int(columns["evictions"].sum())
    out["decode_migrations"] = int(columns["migrations"].sum())

    starved = long_ & arrived & (columns["queueing_delay"] > config.starvation_timeout)
    out["starved_long"] = int(starved.sum())
    out["starvation_rate"] = float(starved.sum() / long_.sum()) if long_.any() else 0.0

    busy, idle = sim.busy_time[env].sum(), sim.idle_time[env].sum()
    out["gpu_idle_rate"] = float(idle / (busy + idle)) if busy + idle > 0 else math.nan

    ttft = columns["ttft"]
    slo_pool = classes["ls"] if labelled else classes[""]
    met = np.isfinite(columns["t_first_token"]) & (ttft <= config.ttft_slo)
    out["slo_attainment"] = (
        float(met[slo_pool & arrived].mean()) if (slo_pool & arrived).any() else math.nan
    )
    return out


def summary_table(summary: dict) -> pd.DataFrame:
    """The latency figures of a summary as a table: one row per metric and statistic,
    one column per request class."""
    classes = ["all", "short", "long"] + (["ls", "be"] if "ttft.ls.p50" in summary else [])
    rows = {}
    for metric in LATENCY_METRICS:
        for stat in STATISTICS:
            rows[f"{metric} {stat}"] = [
                summary.get(f"{metric}.{stat}" if c == "all" else f"{metric}.{c}.{stat}")
                for c in classes
            ]
    return pd.DataFrame.from_dict(rows, orient="index", columns=classes)


HEADLINE = (
    "requests",
    "completed",
    "unfinished",
    "makespan",
    "throughput_rps",
    "short_throughput_rps",
    "tokens_per_s",
    "long_prefill_preemptions",
    "kv_evictions",
    "starvation_rate",
    "gpu_idle_rate",
    "slo_attainment",
)


def format_summary(summary: dict) -> str:
    """A readable report: headline figures, then the latency table (seconds)."""
    keys = [k for k in ("objective_name", "objective", "return") if k in summary] + list(HEADLINE)
    width = max(len(k) for k in keys)
    lines = []
    for key in keys:
        value = summary[key]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {text}")
    table = summary_table(summary).to_string(float_format=lambda v: f"{v:.4g}", na_rep="-")
    return "\n".join(lines) + "\n\nlatency (s)\n" + table
