"""A short MaskablePPO run on two scenarios, evaluated on their held-out test seeds.

Trains a MaskablePPO agent (``pecgym.agents.train_ppo``, defaults: 8 envs, 2048-step
rollouts, one torch thread, the WAIT/auto-start action prior) for about 50,000 steps on
``pecgym/ConvBusy-v1`` and ``pecgym/LSMix-v1``, then runs it deterministically beside random,
FIFO, SJF, PecSched and QLLM on each scenario's test seeds, and writes
``docs/results/short_training.csv`` (one row per policy, scenario and seed) with the
objective, completed and unfinished requests, truncation and steps of every episode. It is a
check that the MDP is learnable and that a learned policy serves every request, not a
tuned agent.

Usage (from the project root; about 6 minutes on 2 cores)::

    python scripts/short_training.py [--timesteps 50000] [--tensorboard runs/]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from pecgym.agents import AgentPolicy, train_ppo
from pecgym.benchmark import Scenario, evaluate
from pecgym.benchmark.harness import EPISODE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("ConvBusy-v1", "LSMix-v1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timesteps", type=int, default=50_000)
    parser.add_argument("--tensorboard", help="write TensorBoard logs here")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "short_training.csv"))
    args = parser.parse_args(argv)
    frames = []
    for name in SCENARIOS:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            model = train_ppo(
                f"pecgym/{name}",
                total_timesteps=args.timesteps,
                seed=0,
                tensorboard_log=args.tensorboard,
                run_name=name,
                save_path=Path(tmp) / "agent.zip",
            )
        trained = time.perf_counter() - started
        agent = AgentPolicy(model, name="maskable_ppo")
        scenario = Scenario.from_env_id(name)
        policies = [agent, "random", "fifo", "sjf", "pecsched", "qllm"]
        frame = evaluate(policies, scenario, progress=False)[list(EPISODE_COLUMNS)]
        frame["train_steps"] = model.num_timesteps
        frame["train_seconds"] = trained
        frames.append(frame)
        table = frame.groupby("policy", sort=False)[
            ["objective", "completed", "unfinished", "truncated", "steps"]
        ].mean()
        print(f"{name}: trained {model.num_timesteps} steps in {trained:.0f} s\n{table}\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
