"""Retrain the shipped agents (``pecgym/agents/zoo/``) and measure them on the test seeds.

For every zoo entry: train with the env id's recipe (``pecgym/agents/recipes.yaml``:
imitation warm start from a heuristic, then MaskablePPO, validation on training-range seeds,
the best validated model kept), copy the model and its validation curve into the zoo, run it
beside random and the heuristics on the scenario's held-out test seeds, and write its card
(``<name>.yaml``: env id, recipe, seed, budget, measured figures) and
``docs/results/zoo.csv`` (one row per policy, scenario and seed), then the page
``docs/agents.md`` with the table of every shipped agent against FIFO and the best heuristic
(95% intervals over the test seeds, and the paired difference) and their validation curves
(``docs/results/zoo_curves.png``).

Usage (from the project root; each agent trains in at most ~30 minutes on 2 cores)::

    python scripts/train_zoo.py [--only conv-busy,ls-mix] [--timesteps N] [--out runs/zoo]
    python scripts/train_zoo.py --page-only      # rewrite docs/agents.md from the cards
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from pecgym.agents import load_model, load_policy, load_recipe
from pecgym.agents.training import train
from pecgym.agents.zoo import ZOO_DIR
from pecgym.benchmark import Scenario, run_evaluation
from pecgym.benchmark.harness import EPISODE_COLUMNS
from pecgym.benchmark.stats import mean_ci, paired_diff_ci

ROOT = Path(__file__).resolve().parents[1]
ZOO = {
    "conv-busy": "pecgym/ConvBusy-v1",
    "long-mix": "pecgym/LongMix-v1",
    "code-bursty": "pecgym/CodeBursty-v1",
    "ls-mix": "pecgym/LSMix-v1",
}
"""Zoo name -> the env id it is trained and measured on."""
BASELINES = ("random", "fifo", "sjf", "pecsched", "qllm")
HEURISTICS = ("sjf", "pecsched", "qllm")
"""The heuristics an agent is held against (FIFO and random are the floor)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated zoo names (default: all)")
    parser.add_argument("--timesteps", type=int, help="override every recipe's PPO budget")
    parser.add_argument("--out", default=str(ROOT / "runs" / "zoo"), help="training runs here")
    parser.add_argument("--results", default=str(ROOT / "docs" / "results" / "zoo.csv"))
    parser.add_argument("--eval-only", action="store_true", help="measure the shipped agents")
    parser.add_argument("--page-only", action="store_true", help="only rewrite docs/agents.md")
    args = parser.parse_args(argv)
    if args.page_only:
        write_page(pd.read_csv(args.results))
        return 0
    chosen = list(ZOO) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in chosen if n not in ZOO]
    if unknown:
        parser.error(f"unknown zoo names {unknown}; known: {', '.join(ZOO)}")
    frames = []
    results = Path(args.results)
    if results.exists():
        previous = pd.read_csv(results)
        frames.append(previous[~previous["agent"].isin(chosen)])
    try:
        for name in chosen:
            frames.append(_one(name, ZOO[name], args))
    except KeyboardInterrupt:
        print("interrupted: keeping the agents finished so far", file=sys.stderr)
    results.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.concat(frames, ignore_index=True)
    frame.to_csv(results, index=False, float_format="%.6g")
    write_page(frame)
    print(f"wrote {results}, docs/agents.md and docs/results/zoo_curves.png")
    return 0


def _one(name: str, env_id: str, args: argparse.Namespace) -> pd.DataFrame:
    card_path = ZOO_DIR / f"{name}.yaml"
    if args.eval_only:
        card = yaml.safe_load(card_path.read_text())
    else:
        override = {} if args.timesteps is None else {"timesteps": args.timesteps}
        config = load_recipe(env_id, None, override)
        out = Path(args.out) / name
        if out.exists():
            shutil.rmtree(out)
        print(f"{name}: training on {env_id} ({config.actual_timesteps} PPO steps)", flush=True)
        run = train(
            env_id, config, out=out, tensorboard_log=Path(args.out) / "tb", name=f"agent:{name}"
        )
        model_file = run.files.get("best", run.files["final"])
        ship(model_file, ZOO_DIR / f"{name}.zip")
        if "eval" in run.files:
            shutil.copy(run.files["eval"], ZOO_DIR / f"{name}_eval.csv")
        best = min(run.eval_history, key=lambda row: row["objective"], default={})
        card = {
            "name": name,
            "env_id": env_id,
            "seed": config.seed,
            "recipe": config.to_dict(),
            "budget": {
                "ppo_timesteps": run.timesteps,
                "selected_at_timesteps": int(best.get("timesteps", run.timesteps)),
                "seconds": {k: round(v, 1) for k, v in run.seconds.items()},
                "imitation_samples": (run.imitation_history or [{}])[-1].get("samples", 0),
                "imitation_accuracy": round(
                    float((run.imitation_history or [{}])[-1].get("accuracy", 0.0)), 4
                ),
            },
        }
    scenario = Scenario.from_env_id(env_id)
    agent = load_policy(name)
    started = time.perf_counter()
    result = run_evaluation([agent, *BASELINES], scenario, progress=False)
    frame = result.summary[list(EPISODE_COLUMNS)].assign(agent=name)
    table = {
        policy: mean_ci(group["objective"]) for policy, group in frame.groupby("policy", sort=False)
    }
    agent_rows = frame[frame["policy"] == agent.name]["objective"].to_numpy()
    best = min(HEURISTICS, key=lambda p: table[p][0])
    best_rows = frame[frame["policy"] == best]["objective"].to_numpy()
    card["test"] = {
        "seeds": f"{scenario.test_seeds[0]}..{scenario.test_seeds[-1]}",
        "objective": scenario.config.reward.objective,
        "mean_ci95": {policy: [round(m, 4), round(h, 4)] for policy, (m, h) in table.items()},
        "best_heuristic": best,
        "minus_best_heuristic_ci95": [round(v, 4) for v in paired_diff_ci(agent_rows, best_rows)],
        "agent_completed_all": bool(
            (frame[frame["policy"] == agent.name]["unfinished"] == 0).all()
        ),
    }
    card_path.write_text(yaml.safe_dump(card, sort_keys=False))
    shown = "  ".join(f"{p} {m:.3f}±{h:.3f}" for p, (m, h) in table.items())
    print(f"{name} on {env_id} ({time.perf_counter() - started:.0f} s): {shown}", flush=True)
    return frame


def ship(model_file: Path, dest: Path) -> None:
    """Save the model at ``model_file`` to ``dest`` without Adam's moment estimates (two
    thirds of the file; an agent fine-tuned from it starts them afresh)."""
    model = load_model(str(model_file))
    policy = model.policy
    policy.optimizer = policy.optimizer_class(
        policy.parameters(), lr=model.lr_schedule(1.0), **policy.optimizer_kwargs
    )
    model.save(dest)


def verdict(low: float, high: float) -> str:
    """How a paired difference (agent - other, lower is better) reads at 95%."""
    if high < 0:
        return "beats"
    if low > 0:
        return "loses to"
    return "matches"


def _cell(test: dict, policy: str) -> str:
    mean, half = test["mean_ci95"][policy]
    return f"{mean:.3g} ± {half:.2g}"


def _paired(part: pd.DataFrame, agent, policy: str) -> str:
    other = part[part["policy"] == policy]["objective"].to_numpy()
    mean, half = paired_diff_ci(agent, other)
    return f"{mean:+.3g} ± {half:.2g} ({verdict(mean - half, mean + half)})"


def warm_start_section(path: Path) -> list[str]:
    """What the imitation warm start saves (``scripts/warm_start_study.py``'s data)."""
    if not path.exists():
        return []
    frame = pd.read_csv(path)
    lines = [
        "## What the warm start saves",
        "",
        "`python scripts/warm_start_study.py`: the same recipe and PPO budget from scratch "
        "(action prior only) and after cloning the teacher, validated on the recipe's "
        "validation seeds (data: `results/warm_start.csv`). Wall time includes the "
        "imitation (demonstrations and cloning), not the validation runs.",
        "",
        "| scenario | teacher (validation) | run | first validation | best (PPO steps, wall) "
        "| wall time to within 2% of the teacher |",
        "|---|---|---|---|---|---|",
    ]
    for (env_id, run), part in frame.groupby(["scenario", "run"], sort=False):
        level = part["teacher_objective"].iloc[0]
        best = part.loc[part["objective"].idxmin()]
        near = part[part["objective"] <= 1.02 * level]
        reach = f"{near['wall_s'].iloc[0]:.0f} s" if len(near) else "not reached"
        lines.append(
            f"| {env_id} | {part['teacher'].iloc[0]}: {level:.3g} | {run} | "
            f"{part['objective'].iloc[0]:.3g} | {best['objective']:.3g} "
            f"({int(best['timesteps']):,}, {best['wall_s']:.0f} s) | {reach} |"
        )
    lines += ["", "![warm start](results/warm_start.png)", ""]
    return lines


def falls_short(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per agent, the floors (random, FIFO) it does not beat at 95% on paired seeds."""
    out: dict[str, list[str]] = {}
    for name, part in frame.groupby("agent", sort=False):
        agent = part[part["policy"] == f"agent:{name}"]["objective"].to_numpy()
        out[name] = []
        for floor in ("random", "fifo"):
            other = part[part["policy"] == floor]["objective"].to_numpy()
            mean, half = paired_diff_ci(agent, other)
            if mean + half >= 0:
                out[name].append(floor)
    return out


def write_page(frame: pd.DataFrame) -> None:
    """``docs/agents.md`` and ``docs/results/zoo_curves.png`` from the cards and ``frame``."""
    docs = ROOT / "docs"
    lines = [
        "# Shipped agents",
        "",
        "Generated by `python scripts/train_zoo.py` (which retrains them; `--page-only` "
        "rewrites this page). Each agent is `pecgym/agents/zoo/<name>.zip`, loadable as "
        "`agent:<name>` anywhere a policy is named (`pecgym compare --policies "
        "fifo,agent:conv-busy`, `pecgym evaluate --agent conv-busy`), with its card "
        "(`<name>.yaml`: recipe, seed, budget, these figures) and validation curve "
        "(`<name>_eval.csv`).",
        "",
        "Recipe (`pecgym/agents/recipes.yaml`): clone the scenario's teacher heuristic from "
        "its actions through the env (behaviour cloning), fine-tune with "
        "MaskablePPO, and keep the model with the best objective on validation seeds drawn "
        "from the training range. The figures below are on the scenario's held-out test "
        "seeds: mean and 95% confidence interval of the primary objective (lower is better), "
        "and the paired difference agent - heuristic over the same seeds.",
        "",
        "| agent | scenario | objective | agent | random | FIFO | best heuristic | "
        "agent - FIFO | agent - best heuristic | budget (PPO steps, wall) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    curves = []
    for name, env_id in ZOO.items():
        card_path = ZOO_DIR / f"{name}.yaml"
        part = frame[frame["agent"] == name] if "agent" in frame else frame.iloc[0:0]
        if not card_path.exists() or part.empty:
            continue
        card = yaml.safe_load(card_path.read_text())
        test = card["test"]
        agent = part[part["policy"] == f"agent:{name}"]["objective"].to_numpy()

        best = test["best_heuristic"]
        budget = card["budget"]
        lines.append(
            f"| `agent:{name}` | {env_id} | {test['objective']} | "
            f"{_cell(test, f'agent:{name}')} | {_cell(test, 'random')} | {_cell(test, 'fifo')} | "
            f"{best}: {_cell(test, best)} | {_paired(part, agent, 'fifo')} | "
            f"{_paired(part, agent, best)} | {budget['ppo_timesteps']:,}, "
            f"{budget['seconds']['total'] / 60:.1f} min |"
        )
        curve = ZOO_DIR / f"{name}_eval.csv"
        if curve.exists():
            curves.append((name, pd.read_csv(curve)))
    short = [name for name, verdicts in falls_short(frame).items() if verdicts]
    lines += [
        "",
        *(
            f"**Goal not met:** `agent:{name}` does not beat "
            + " or ".join(falls_short(frame)[name])
            + " on its scenario (see the tuning notes in [design.md](design.md))."
            for name in short
        ),
        "",
        f"Test seeds: {len(set(frame['seed']))} per scenario. Budgets are wall time on the "
        "2-core development machine, imitation included.",
        "",
        "![validation curves](results/zoo_curves.png)",
        "",
        *warm_start_section(docs / "results" / "warm_start.csv"),
    ]
    (docs / "agents.md").write_text("\n".join(lines))
    if curves:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.2), squeeze=False)
        for ax, (name, curve) in zip(axes[0], curves, strict=True):
            ax.plot(curve["timesteps"], curve["objective"], marker="o")
            ax.set(title=f"agent:{name}", xlabel="PPO steps", ylabel="validation objective")
        fig.tight_layout()
        fig.savefig(docs / "results" / "zoo_curves.png", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
