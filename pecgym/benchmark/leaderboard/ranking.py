"""The leaderboard's statistics, from ``episodes.csv`` alone.

The estimators are rliable's (Agarwal et al., "Deep RL at the Edge of the Statistical
Precipice", NeurIPS 2021), computed with SciPy: rliable itself pins ``arch<8``, and arch 7
does not import under pandas 3, so it cannot be installed beside pandas 3.

- Per policy and scenario: the interquartile mean (IQM, the 25% trimmed mean) of the
  objective over seeds, with a 95% percentile bootstrap interval
  (:func:`scipy.stats.bootstrap`), and the probability that the policy does better than
  FIFO on a seed (the Mann-Whitney statistic over all seed pairs, ties counted half).
- Across scenarios: each episode's objective on a normalised scale, 0 at random's IQM and
  1 at the best heuristic's IQM on its scenario (both measured in the same records); per
  policy, the IQM of its normalised scores over all its scenarios and seeds with a
  stratified bootstrap interval (seeds resampled within each scenario, scenarios kept).

Bootstraps are seeded: the same records give the same table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pecgym.benchmark.leaderboard.entries import kind_of
from pecgym.benchmark.leaderboard.suite import CONFIDENCE, FIFO, REPS

ALL = "all"
"""The ``scenario`` of a policy's row aggregated over its scenarios."""

SUMMARY_COLUMNS = (
    "rank",
    "policy",
    "kind",
    "scenario",
    "episodes",
    "objective_name",
    "objective_iqm",
    "objective_ci_low",
    "objective_ci_high",
    "objective_mean",
    "normalized_iqm",
    "normalized_ci_low",
    "normalized_ci_high",
    "prob_improvement_fifo",
    "completed_fraction",
    "step_capped",
    "invalid_actions",
)
"""The columns of ``summary.csv``."""


def iqm(values: np.ndarray) -> float:
    """The interquartile mean of ``values`` (all of them pooled)."""
    return float(stats.trim_mean(np.ravel(np.asarray(values, dtype=float)), 0.25))


def _pooled_iqm(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return stats.trim_mean(np.concatenate(samples, axis=axis), 0.25, axis=axis)


def stratified_interval(
    strata: list[np.ndarray], statistic=_pooled_iqm, *, reps: int = REPS, seed: int = 0
) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of ``statistic`` over ``strata`` (e.g. a
    policy's scores per scenario), each stratum resampled on its own. NaN when a stratum
    has fewer than two values. ``statistic(*strata, axis=-1)`` is vectorised; if it returns
    several values, the bounds are arrays (one interval each)."""
    if any(len(s) < 2 for s in strata):
        return np.nan, np.nan
    if all(np.ptp(s) == 0 for s in strata):  # nothing to resample: a point interval
        value = np.asarray(statistic(*strata), dtype=float)
        return (float(value), float(value)) if value.ndim == 0 else (value, value)
    result = stats.bootstrap(
        [np.asarray(s, dtype=float) for s in strata],
        statistic,
        n_resamples=reps,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    if np.ndim(low):  # a vector-valued statistic: one interval per component
        return np.asarray(low), np.asarray(high)
    return float(low), float(high)


def iqm_interval(
    strata: list[np.ndarray], *, reps: int = REPS, seed: int = 0
) -> tuple[float, float, float]:
    """IQM of the pooled ``strata`` and its stratified bootstrap interval."""
    low, high = stratified_interval(strata, reps=reps, seed=seed)
    return iqm(np.concatenate(strata)), low, high


def probability_of_improvement(objective: np.ndarray, other: np.ndarray) -> float:
    """P(objective on a seed < other's on a seed), ties counted half (lower is better)."""
    u = stats.mannwhitneyu(other, objective, alternative="greater").statistic
    return float(u / (len(objective) * len(other)))


def references(episodes: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, the normalised scale's anchors: random's IQM (0) and the best
    heuristic's (1), with its name. NaN where either is missing or no heuristic beats
    random."""
    rows = {}
    for scenario, group in episodes.groupby("scenario", sort=False):
        by_policy = group.groupby("policy", sort=False)
        kinds = by_policy["policy_spec"].first().map(kind_of)
        scores = by_policy["objective"].apply(lambda s: iqm(s.to_numpy()))
        random = scores[kinds == "random"]
        heuristics = scores[kinds == "heuristic"]
        row = {"random_iqm": np.nan, "best_heuristic": None, "best_heuristic_iqm": np.nan}
        if len(random):
            row["random_iqm"] = float(random.iloc[0])
        if len(heuristics):
            row["best_heuristic"] = heuristics.idxmin()
            row["best_heuristic_iqm"] = float(heuristics.min())
        rows[scenario] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def normalized(episodes: pd.DataFrame, refs: pd.DataFrame) -> pd.Series:
    """Each episode's objective on the normalised scale of its scenario (see module)."""
    random = episodes["scenario"].map(refs["random_iqm"])
    best = episodes["scenario"].map(refs["best_heuristic_iqm"])
    span = (random - best).where(lambda s: s > 0)
    return (random - episodes["objective"]) / span


def summarize(episodes: pd.DataFrame, *, reps: int = REPS, seed: int = 0) -> pd.DataFrame:
    """``summary.csv``: a row per policy and scenario and one per policy over all of its
    scenarios (``scenario == "all"``), ranked by the normalised IQM (see the module)."""
    if episodes.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    episodes = episodes.assign(normalized=normalized(episodes, references(episodes)))
    fifo = {
        s: g["objective"].to_numpy()
        for s, g in episodes[episodes.policy == FIFO].groupby("scenario")
    }
    rows = []
    for policy, runs in episodes.groupby("policy", sort=False):
        per_scenario = []
        for scenario, group in runs.groupby("scenario", sort=False):
            objective = group["objective"].to_numpy(dtype=float)
            point, low, high = iqm_interval([objective], reps=reps, seed=seed)
            row = _row(policy, scenario, group)
            row.update(objective_iqm=point, objective_ci_low=low, objective_ci_high=high)
            row.update(_normalized_interval([group["normalized"].to_numpy()], reps, seed))
            if scenario in fifo:
                row["prob_improvement_fifo"] = probability_of_improvement(objective, fifo[scenario])
            per_scenario.append(row)
        rows.extend(per_scenario)
        rows.append(_aggregate(policy, runs, per_scenario, reps, seed))
    table = pd.DataFrame(rows)
    overall = table[table.scenario == ALL].set_index("policy")["normalized_iqm"]
    order = overall.rank(ascending=False, method="min", na_option="bottom").astype(int)
    table["rank"] = table["policy"].map(order)
    scenarios = [s for s in dict.fromkeys(episodes["scenario"])] + [ALL]
    table["_s"] = table["scenario"].map({s: i for i, s in enumerate(scenarios)})
    table = table.sort_values(["_s", "rank", "policy"], kind="stable").drop(columns="_s")
    return table[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def _row(policy: str, scenario: str, group: pd.DataFrame) -> dict:
    return {
        "policy": policy,
        "kind": kind_of(str(group["policy_spec"].iloc[0])),
        "scenario": scenario,
        "episodes": len(group),
        "objective_name": group["objective_name"].iloc[0],
        "objective_mean": float(group["objective"].mean()),
        "completed_fraction": float((group["completed"] / group["requests"]).mean()),
        "step_capped": int(group["step_capped"].astype(bool).sum()),
        "invalid_actions": int(group["invalid_actions"].sum()),
    }


def _normalized_interval(strata: list[np.ndarray], reps: int, seed: int) -> dict:
    if any(np.isnan(s).any() for s in strata):
        return {"normalized_iqm": np.nan, "normalized_ci_low": np.nan, "normalized_ci_high": np.nan}
    point, low, high = iqm_interval(strata, reps=reps, seed=seed)
    return {"normalized_iqm": point, "normalized_ci_low": low, "normalized_ci_high": high}


def _aggregate(policy: str, runs: pd.DataFrame, per_scenario: list[dict], reps: int, seed: int):
    row = _row(policy, ALL, runs)
    row.update(objective_name=None, objective_mean=np.nan)
    strata = [g["normalized"].to_numpy() for _, g in runs.groupby("scenario", sort=False)]
    row.update(_normalized_interval(strata, reps, seed))
    improvements = [
        r["prob_improvement_fifo"] for r in per_scenario if "prob_improvement_fifo" in r
    ]
    row["prob_improvement_fifo"] = float(np.mean(improvements)) if improvements else np.nan
    return row
