"""End-to-end training throughput: env steps/s of MaskablePPO on a pecgym env, and where the
time goes.

Not a test: trains from the env id's recipe (no imitation, no validation) for a fixed
number of steps at each batch size and prints, measured in one run, the env steps per
second and the share of wall time in the env's step (simulation, observation and action
masks), in the rest of collecting rollouts (the policy's forward passes and masked
distributions: ``rollout policy``) and in the PPO updates (``learn``). ``--validate``
adds rows with torch.distributions' argument checks on (pecgym's training turns them off:
they cost about a third of building each masked distribution). Target: at least 3,000 env
steps/s end to end at 64 envs on a 2-core machine.

    python benchmarks/bench_training.py [--env pecgym/ConvBusy-v1] [--envs 8,64]
        [--rollouts 4] [--validate] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections import defaultdict

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.agents import load_recipe
from pecgym.agents.training import _make_env, _new_model, configure_torch
from pecgym.envs.scenarios import get_scenario


def _timed(obj, name: str, totals: dict[str, float], label: str) -> None:
    """Wrap ``obj.name`` so its wall time adds up in ``totals[label]``."""
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - started

    setattr(obj, name, wrapper)


def measure(
    env_id: str, num_envs: int, rollouts: int, profile: bool, validate: bool = False
) -> dict[str, float]:
    """Train ``rollouts`` PPO rollouts (after one warm-up rollout); times and shares."""
    import torch

    config = load_recipe(
        env_id,
        None,
        {"num_envs": num_envs, "imitation": {"teacher": None}, "eval": {"every": 0}},
    )
    configure_torch(config.torch_threads)
    torch.distributions.Distribution.set_default_validate_args(validate)
    env = _make_env(env_id, config, get_scenario(env_id).config(config.env))
    from sb3_contrib import MaskablePPO

    model = _new_model(MaskablePPO, env, config, None)
    steps = config.rollout_steps
    model.learn(steps)  # warm-up: imports, first allocations
    totals: dict[str, float] = defaultdict(float)
    _timed(env, "step_wait", totals, "step")
    _timed(model, "collect_rollouts", totals, "collect")
    _timed(model, "train", totals, "learn")
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    model.learn(steps * rollouts, reset_num_timesteps=False)
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    wall = time.perf_counter() - started
    env.close()
    return {
        "envs": num_envs,
        "checks": "on" if validate else "off",
        "steps": steps * rollouts,
        "steps/s": steps * rollouts / wall,
        "step": totals["step"] / wall,
        "rollout policy": (totals["collect"] - totals["step"]) / wall,
        "learn": totals["learn"] / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="pecgym/ConvBusy-v1")
    parser.add_argument("--envs", default="8,64", help="comma-separated batch sizes")
    parser.add_argument("--rollouts", type=int, default=4, help="rollouts measured per size")
    parser.add_argument("--validate", action="store_true", help="also with argument checks")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args()
    rows = []
    for n in args.envs.split(","):
        for validate in (False, True) if args.validate else (False,):
            rows.append(measure(args.env, int(n), args.rollouts, args.profile, validate))
    print(f"{args.env}, MaskablePPO from its recipe (n_steps x envs per rollout)")
    print(f"{'envs':>5} {'checks':>6} {'steps':>8} {'steps/s':>8}  share: step  rollout  learn")
    for r in rows:
        print(
            f"{r['envs']:>5} {r['checks']:>6} {r['steps']:>8} {r['steps/s']:>8.0f}  "
            f"{r['step']:>11.0%} {r['rollout policy']:>8.0%} {r['learn']:>6.0%}"
        )


if __name__ == "__main__":
    main()
