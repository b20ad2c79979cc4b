"""How much the imitation warm start shortens training: PPO from scratch vs cloned first.

For each scenario, trains MaskablePPO twice with the env id's recipe and the same PPO
budget: once from scratch (the WAIT/auto-start action prior only) and once after cloning the
recipe's teacher heuristic. Both are validated every ``--every`` steps on the recipe's
validation seeds (training range, so the test seeds stay held out). Writes
``docs/results/warm_start.csv`` (one row per run and validation: env steps, wall seconds
since the run started, objective) and ``docs/results/warm_start.png`` (the curves against
wall time, with the teacher's level).

Usage (from the project root; about 15 minutes on 2 cores)::

    python scripts/warm_start_study.py [--timesteps 100000] [--every 10000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pecgym import baselines
from pecgym.agents import load_recipe
from pecgym.agents.training import train
from pecgym.benchmark import rollout
from pecgym.envs.scenarios import get_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("pecgym/ConvBusy-v1", "pecgym/LSMix-v1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--out", default=str(ROOT / "docs" / "results"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    frames = []
    try:
        for env_id in SCENARIOS:
            frames.append(study(env_id, args.timesteps, args.every))
    except KeyboardInterrupt:
        print("interrupted: writing the runs finished so far", file=sys.stderr)
    if not frames:
        return 130
    frame = pd.concat(frames, ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "warm_start.csv", index=False, float_format="%.6g")
    plot(frame, out / "warm_start.png")
    print(f"wrote {out / 'warm_start.csv'} and warm_start.png")
    return 0


def study(env_id: str, timesteps: int, every: int) -> pd.DataFrame:
    """Both runs on ``env_id`` and the teacher on the validation seeds."""
    recipe = load_recipe(env_id)
    rows = []
    for mode, teacher in (("scratch", None), ("warm start", recipe.imitation.teacher)):
        config = load_recipe(
            env_id,
            None,
            {"timesteps": timesteps, "imitation": {"teacher": teacher}, "eval": {"every": every}},
        )
        run = train(env_id, config, name=mode)
        imitation = run.seconds.get("imitation", 0.0)
        evaluated = 0.0
        for row in run.eval_history:
            # wall time to this validation: imitation, then PPO's share up to it (without
            # the validation runs themselves)
            evaluated += row["seconds"]
            share = row["timesteps"] / max(run.timesteps, 1)
            ppo = share * (run.seconds["ppo"] - sum(r["seconds"] for r in run.eval_history))
            rows.append(
                {
                    "scenario": env_id,
                    "run": mode,
                    "timesteps": int(row["timesteps"]),
                    "wall_s": imitation + ppo,
                    "objective": row["objective"],
                    "completed": row["completed"],
                    "steps": row["steps"],
                }
            )
        print(f"{env_id} {mode}: {run.seconds}", flush=True)
    teacher = baselines.get(recipe.imitation.teacher)
    config = get_scenario(env_id).config(recipe.env)
    episodes = rollout(teacher, config, range(*recipe.eval.seeds)).episodes
    level = float(np.mean([e["objective"] for e in episodes]))
    frame = pd.DataFrame(rows)
    frame["teacher"] = recipe.imitation.teacher
    frame["teacher_objective"] = level
    return frame


def plot(frame: pd.DataFrame, path: Path) -> None:
    """Validation objective against wall time, per scenario, with the teacher's level."""
    scenarios = list(dict.fromkeys(frame["scenario"]))
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5 * len(scenarios), 3.6), squeeze=False)
    for ax, env_id in zip(axes[0], scenarios, strict=True):
        part = frame[frame["scenario"] == env_id]
        for mode, run in part.groupby("run", sort=False):
            ax.plot(run["wall_s"], run["objective"], marker="o", label=mode)
        ax.axhline(part["teacher_objective"].iloc[0], color="gray", linestyle="--")
        ax.annotate(part["teacher"].iloc[0], (0, part["teacher_objective"].iloc[0]), color="gray")
        ax.set(title=env_id, xlabel="wall time (s, 2-core machine)", ylabel="validation objective")
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
