"""``pecgym train``: train a PPO / MaskablePPO agent on a pecgym env."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time

from pecgym.agents.ppo import ALGOS, INSTALL_HINT
from pecgym.commands.options import add_config_arguments, overrides_from_args
from pecgym.envs.scenarios import get_scenario

_REQUIRED = {
    "maskable_ppo": ("torch", "stable_baselines3", "sb3_contrib"),
    "ppo": ("torch", "stable_baselines3"),
}


def _missing(modules: tuple[str, ...]) -> list[str]:
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: a None entry in sys.modules
            found = False
        if not found:
            missing.append(name)
    return missing


def run(args: argparse.Namespace) -> int:
    missing = _missing(_REQUIRED[args.algo])
    if missing:
        print(
            f"pecgym train: error: {', '.join(missing)} not installed; {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 1
    env_kwargs = json.loads(args.env_kwargs) if args.env_kwargs else {}
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
    config = get_scenario(args.env).config(env_kwargs, *overrides_from_args(args))
    ppo_kwargs = {
        key: value
        for key, value in (
            ("n_steps", args.n_steps),
            ("batch_size", args.batch_size),
            ("learning_rate", args.learning_rate),
        )
        if value is not None
    }
    from pecgym.agents.ppo import train_ppo

    started = time.perf_counter()
    model = train_ppo(
        args.env,
        total_timesteps=args.timesteps,
        num_envs=args.num_envs,
        seed=args.seed,
        algo=args.algo,
        env_kwargs={"config": config},
        tensorboard_log=args.tensorboard,
        save_path=args.save,
        progress_bar=args.progress,
        torch_threads=args.threads,
        action_prior=args.action_prior,
        verbose=1 if args.verbose else 0,
        **ppo_kwargs,
    )
    elapsed = time.perf_counter() - started
    print(
        f"trained {args.algo} on {args.env}: {model.num_timesteps} steps with {args.num_envs} "
        f"envs in {elapsed:.1f} s"
    )
    if args.save:
        print(f"saved the agent to {args.save}")
    if args.tensorboard:
        print(f"TensorBoard logs in {args.tensorboard} (tensorboard --logdir {args.tensorboard})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command."""
    parser = subparsers.add_parser(
        "train",
        help="train a PPO agent on a scheduling env",
        description=(
            "Train a PPO or MaskablePPO agent (stable-baselines3, MultiInputPolicy) on batched "
            f"copies of a pecgym env. Needs the RL extras ({INSTALL_HINT})."
        ),
    )
    parser.add_argument("--env", default="pecgym/ConvBusy-v1", help="env id")
    parser.add_argument("--timesteps", type=int, default=100_000, help="env steps to train for")
    parser.add_argument("--num-envs", type=int, default=8, help="envs stepped together")
    parser.add_argument("--algo", choices=ALGOS, default="maskable_ppo")
    parser.add_argument("--seed", type=int, default=0, help="seed of envs and model")
    parser.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs here")
    parser.add_argument("--save", metavar="PATH", help="save the trained agent (.zip)")
    parser.add_argument(
        "--env-kwargs",
        metavar="JSON",
        help='env settings as nested JSON, e.g. \'{"cluster": {"num_instances": 8}}\'',
    )
    add_config_arguments(parser, scenario=False)
    parser.add_argument("--n-steps", type=int, help="rollout steps per env and update")
    parser.add_argument("--batch-size", type=int, help="minibatch size")
    parser.add_argument("--learning-rate", type=float, help="learning rate")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for MLPs)"
    )
    parser.add_argument(
        "--action-prior",
        type=float,
        default=3.0,
        help="initial logit of WAIT and of auto-placed starts (0: uniform; default 3)",
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    parser.add_argument("--verbose", action="store_true", help="print SB3's training log")
    parser.set_defaults(handler=run)
