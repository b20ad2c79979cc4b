"""The leaderboard's outputs from ``summary.csv``: the table (text and Markdown), the
interval plots, the performance profile and TensorBoard scalars."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from pecgym.benchmark.leaderboard.ranking import ALL, iqm, stratified_interval
from pecgym.benchmark.leaderboard.suite import CONFIDENCE, REPS

INTERVALS_PLOT = "intervals.png"
PROFILE_PLOT = "performance_profile.png"
TENSORBOARD_DIR = "tensorboard"


def _interval(point: float, low: float, high: float, digits: int = 3) -> str:
    if np.isnan(point):
        return "-"
    if np.isnan(low):
        return f"{point:.{digits}g}"
    return f"{point:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def leaderboard_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per policy, best first: rank, kind, the normalised IQM over all scenarios
    with its 95% interval, the probability of improving on FIFO, then each scenario's
    objective IQM with its interval (``-`` where the policy did not run)."""
    overall = summary[summary.scenario == ALL].set_index("policy")
    per = summary[summary.scenario != ALL]
    scenarios = list(dict.fromkeys(per["scenario"]))
    table = pd.DataFrame(index=overall.index)
    table["rank"] = overall["rank"]
    table["kind"] = overall["kind"]
    table["normalized IQM [95% CI]"] = [
        _interval(r.normalized_iqm, r.normalized_ci_low, r.normalized_ci_high, 2)
        for r in overall.itertuples()
    ]
    table["P(better than FIFO)"] = overall["prob_improvement_fifo"].map(
        lambda v: "-" if np.isnan(v) else f"{v:.2f}"
    )
    for scenario in scenarios:
        rows = per[per.scenario == scenario].set_index("policy")
        column = f"{scenario} {rows['objective_name'].iloc[0]}"
        table[column] = "-"
        for policy, r in rows.iterrows():
            table.loc[policy, column] = _interval(
                r.objective_iqm, r.objective_ci_low, r.objective_ci_high
            )
    table = table.reset_index()
    return table[["rank", "policy", *table.columns.drop(["rank", "policy"])]]


def to_markdown(table: pd.DataFrame) -> str:
    """A DataFrame of strings as a Markdown table."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def anchor(ref: pd.Series) -> str:
    """A scenario's best heuristic and its IQM, or why the scenario has no scale."""
    if ref.best_heuristic is None or pd.isna(ref.best_heuristic):
        return "- (no heuristic ran: no normalised scale)"
    text = f"{ref.best_heuristic} ({ref.best_heuristic_iqm:.4g})"
    if not ref.best_heuristic_iqm < ref.random_iqm:
        text += ": does not beat random, no normalised scale"
    return text


GUIDE = f"""\
- **Per scenario**: the IQM (25% trimmed mean) of the episode objective over the held-out
  test seeds (lower is better), with a {CONFIDENCE:.0%} percentile bootstrap interval
  ({REPS} resamples).
- **normalized IQM**: each episode on its scenario's scale, 0 = random's IQM and 1 = the best
  heuristic's; the IQM over all of a policy's scenarios and seeds, with a stratified
  bootstrap interval (seeds resampled within scenarios). Above 1 beats every heuristic.
- **P(better than FIFO)**: the probability that the policy's objective on a seed is lower
  than FIFO's on a seed (Mann-Whitney), averaged over scenarios.
- An agent runs on the scenarios whose observation and action spaces it learned and is
  ranked on those alone."""
"""How to read the leaderboard table."""


def markdown_body(summary: pd.DataFrame, refs: pd.DataFrame, image_prefix: str = "") -> str:
    """The table, how to read it, each scenario's anchors and the plots (named
    ``image_prefix`` + :data:`INTERVALS_PLOT` / :data:`PROFILE_PLOT`)."""
    anchors = "\n".join(
        f"| {scenario} | {ref.random_iqm:.4g} | {anchor(ref)} |"
        for scenario, ref in refs.iterrows()
    )
    return f"""{to_markdown(leaderboard_table(summary))}

{GUIDE}

| scenario | random IQM (score 0) | best heuristic (score 1) |
|---|---|---|
{anchors}

![interval estimates]({image_prefix}{INTERVALS_PLOT})

![performance profile]({image_prefix}{PROFILE_PLOT})
"""


def write_markdown(summary: pd.DataFrame, refs: pd.DataFrame, path: str | Path, title: str):
    """``leaderboard.md``: a title and :func:`markdown_body`."""
    Path(path).write_text(f"# {title}\n\n{markdown_body(summary, refs)}")


def plot_intervals(summary: pd.DataFrame, path: str | Path) -> Path:
    """One panel per scenario (objective IQM with its interval, per policy) and one of the
    normalised IQM over all scenarios."""
    panels = [*dict.fromkeys(summary.loc[summary.scenario != ALL, "scenario"]), ALL]
    order = list(dict.fromkeys(summary.sort_values("rank")["policy"]))
    fig = Figure(figsize=(4.2 * len(panels), 0.32 * len(order) + 1.4), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True)
    for ax, scenario in zip(np.atleast_1d(axes), panels, strict=True):
        rows = summary[summary.scenario == scenario].set_index("policy")
        key = "normalized" if scenario == ALL else "objective"
        for y, policy in enumerate(order):
            if policy not in rows.index or np.isnan(rows.loc[policy, f"{key}_iqm"]):
                continue
            r = rows.loc[policy]
            low, high = r[f"{key}_ci_low"], r[f"{key}_ci_high"]
            ax.plot(
                [low, high], [y, y], lw=6, alpha=0.35, color=f"C{y % 10}", solid_capstyle="butt"
            )
            ax.plot([r[f"{key}_iqm"]], [y], "|", ms=12, mew=2, color="k")
        ax.set_yticks(range(len(order)), order)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        if scenario == ALL:
            ax.set_title("all scenarios")
            ax.set_xlabel("normalised score IQM (1 = best heuristic)")
        else:
            ax.set_title(scenario)
            ax.set_xlabel(f"{rows['objective_name'].iloc[0]} IQM (lower is better)")
            if (rows["objective_ci_low"].dropna() > 0).all():
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_profile(
    episodes: pd.DataFrame, path: str | Path, *, reps: int = REPS, seed: int = 0
) -> Path:
    """The performance profile: per policy, the fraction of its episodes (all scenarios)
    whose normalised score exceeds tau, with a stratified bootstrap band; policies in the
    order of their scores' IQM."""
    taus = np.linspace(-1.0, 1.5, 101)
    fig = Figure(figsize=(9.5, 4.8), layout="constrained")
    ax = fig.subplots()
    groups = [
        (policy, group)
        for policy, group in episodes.groupby("policy", sort=False)
        if group["normalized"].notna().all()
    ]
    groups.sort(key=lambda item: -iqm(item[1]["normalized"].to_numpy()))

    def above(*strata: np.ndarray, axis: int = -1) -> np.ndarray:
        pooled = np.concatenate(strata, axis=axis)
        return (pooled[..., None] > taus).mean(axis=-2).T

    for i, (policy, group) in enumerate(groups):
        color, style = f"C{i % 10}", ("-", "--", ":")[i // 10 % 3]
        strata = [g["normalized"].to_numpy() for _, g in group.groupby("scenario", sort=False)]
        ax.plot(taus, above(*strata), style, color=color, label=policy)
        low, high = stratified_interval(strata, above, reps=max(200, reps // 10), seed=seed)
        if np.ndim(low):
            ax.fill_between(taus, low, high, color=color, alpha=0.08, lw=0)
    ax.axvline(0, color="grey", lw=0.8)
    ax.axvline(1, color="grey", lw=0.8)
    ax.set_xlabel("normalised score tau (0 = random, 1 = best heuristic)")
    ax.set_ylabel("fraction of episodes with score > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, dpi=110)
    return Path(path)


def write_tensorboard(summary: pd.DataFrame, folder: str | Path, step: int = 0) -> Path:
    """One TensorBoard run per policy (``folder/<policy>``), with its scalars per scenario
    (``leaderboard/<scenario>/objective_iqm``, ``.../normalized_iqm``, ...). The folder is
    rewritten, so it always shows the current records."""
    from tensorboardX import SummaryWriter

    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    for policy, rows in summary.groupby("policy", sort=False):
        writer = SummaryWriter(logdir=str(folder / re.sub(r"[^\w.-]+", "_", policy)))
        for row in rows.itertuples():
            for metric in (
                "objective_iqm",
                "objective_ci_low",
                "objective_ci_high",
                "normalized_iqm",
                "prob_improvement_fifo",
                "completed_fraction",
            ):
                value = getattr(row, metric)
                if value is not None and not pd.isna(value):
                    writer.add_scalar(f"leaderboard/{row.scenario}/{metric}", float(value), step)
        writer.close()
    return folder
