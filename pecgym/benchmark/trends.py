"""The papers' claims as checks on a comparison table (per policy, mean over seeds).

Each check returns a row: the claim, the figures it compares, and whether it holds. The
thresholds are the ones the benchmark sets out to reproduce (PecSched: p99 short queueing
delay at most half of FIFO's, short throughput at least FIFO's, mean long JCT within 1.3x of
FIFO's, Priority starves long requests and PecSched does not, Reservation idles most, each
ablation loses on what its technique targets; QLLM: LS TTFT at least 5x below FCFS's where
FCFS misses the 3 s SLO).
"""

from __future__ import annotations

import pandas as pd

_KEYS = ("claim", "evidence", "passed")


def _row(claim: str, evidence: str, passed: bool) -> dict:
    return dict(zip(_KEYS, (claim, evidence, bool(passed)), strict=True))


def pecsched_trends(table: pd.DataFrame) -> pd.DataFrame:
    """Checks of PecSched's claims; ``table`` is :func:`comparison_table`-shaped with every
    policy of :data:`pecgym.baselines.PECSCHED_STUDY` (more columns are fine)."""
    t = table
    pec, fifo = t.loc["pecsched"], t.loc["fifo"]
    q99 = "queueing_delay.short.p99"
    rows = [
        _row(
            "PecSched's p99 short queueing delay is at most half of FIFO's",
            f"{pec[q99]:.3g} s vs FIFO {fifo[q99]:.3g} s",
            pec[q99] <= 0.5 * fifo[q99],
        ),
        _row(
            "PecSched's short throughput is at least FIFO's",
            f"{pec['short_throughput_rps']:.4g} vs FIFO {fifo['short_throughput_rps']:.4g} req/s",
            pec["short_throughput_rps"] >= fifo["short_throughput_rps"],
        ),
        _row(
            "PecSched's mean long JCT is within 1.3x of FIFO's",
            f"{pec['jct.long.mean']:.4g} s vs FIFO {fifo['jct.long.mean']:.4g} s "
            f"({pec['jct.long.mean'] / fifo['jct.long.mean']:.2f}x)",
            pec["jct.long.mean"] <= 1.3 * fifo["jct.long.mean"],
        ),
        _row(
            "Priority starves long requests, PecSched does not",
            f"starvation rate {t.loc['priority', 'starvation_rate']:.3g} vs PecSched "
            f"{pec['starvation_rate']:.3g}",
            t.loc["priority", "starvation_rate"] > 0 and pec["starvation_rate"] == 0,
        ),
        _row(
            "Reservation has the highest GPU idle rate",
            f"{t.loc['reservation', 'gpu_idle_rate']:.3g}; next: "
            f"{t['gpu_idle_rate'].drop('reservation').max():.3g} "
            f"({t['gpu_idle_rate'].drop('reservation').idxmax()})",
            t["gpu_idle_rate"].idxmax() == "reservation",
        ),
    ]
    for ablation, metric, what in (
        ("pecsched-no-preempt", q99, "p99 short queueing delay"),
        ("pecsched-no-disagg", "jct.short.mean", "mean short JCT"),
        ("pecsched-no-disagg", "tbt.short.mean", "mean short TBT"),
        ("pecsched-no-coloc", "jct.long.mean", "mean long JCT"),
        ("pecsched-no-fastsp", "jct.long.mean", "mean long JCT"),
    ):
        mine, base = t.loc[ablation, metric], pec[metric]
        rows.append(
            _row(
                f"{ablation} loses on {what}",
                f"{mine:.4g} vs PecSched {base:.4g}",
                mine > base,
            )
        )
    return pd.DataFrame(rows, columns=list(_KEYS))


def qllm_trends(table: pd.DataFrame) -> pd.DataFrame:
    """Checks of QLLM's claims; ``table`` has rows ``qllm`` and ``fcfs`` with LS metrics."""
    q, f = table.loc["qllm"], table.loc["fcfs"]
    ratio = f["ttft.ls.mean"] / q["ttft.ls.mean"]
    rows = [
        _row(
            "FCFS misses the 3 s TTFT SLO for LS requests",
            f"FCFS SLO attainment {f['slo_attainment']:.1%}",
            f["slo_attainment"] < 0.9,
        ),
        _row(
            "QLLM meets it",
            f"QLLM SLO attainment {q['slo_attainment']:.1%}",
            q["slo_attainment"] >= 0.99,
        ),
        _row(
            "QLLM's LS TTFT is at least 5x lower than FCFS's",
            f"{q['ttft.ls.mean']:.3g} s vs FCFS {f['ttft.ls.mean']:.3g} s ({ratio:.0f}x)",
            ratio >= 5,
        ),
    ]
    if "tokens_per_s" in table:
        change = q["tokens_per_s"] / f["tokens_per_s"] - 1
        rows.append(
            _row(
                "QLLM loses no throughput",
                f"{q['tokens_per_s']:.5g} vs FCFS {f['tokens_per_s']:.5g} tokens/s ({change:+.1%})",
                change > -0.02,
            )
        )
    return pd.DataFrame(rows, columns=list(_KEYS))
