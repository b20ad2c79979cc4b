"""``pecgym train``: train an agent on a pecgym env from its recipe.

The recipe of the env id (``pecgym/agents/recipes.yaml``), then ``--config FILE``, then
``--hp KEY=VALUE`` and the short options, resolve one :class:`~pecgym.agents.TrainConfig`;
env options (``--cluster.num-instances 8``, ``--set``, ``--env-kwargs``) go to its ``env``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from pecgym.agents.config import ALGOS, load_recipe
from pecgym.commands.options import add_config_arguments, overrides_from_args
from pecgym.envs.scenarios import get_scenario
from pecgym.outputs import output_dir, output_file
from pecgym.sim.config import ConfigError

INSTALL_HINT = 'install the RL extras: pip install "torch==2.13.0" -e ".[rl]"'
_REQUIRED = ("torch", "stable_baselines3", "sb3_contrib", "tensorboard")
SHORT_OPTIONS = {
    "timesteps": "timesteps",
    "num_envs": "num_envs",
    "seed": "seed",
    "algo": "algo",
    "teacher": "imitation.teacher",
    "eval_every": "eval.every",
    "checkpoint_every": "checkpoint_every",
    "learning_rate": "ppo.learning_rate",
    "n_steps": "ppo.n_steps",
    "batch_size": "ppo.batch_size",
    "n_epochs": "ppo.n_epochs",
    "gamma": "ppo.gamma",
    "ent_coef": "ppo.ent_coef",
    "action_prior": "action_prior",
    "threads": "torch_threads",
}
"""Short ``pecgym train`` options and the recipe fields they set."""


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


def _nested(path: str, value: Any) -> dict[str, Any]:
    """``"ppo.gamma", 0.99`` as ``{"ppo": {"gamma": 0.99}}``."""
    head, _, rest = path.partition(".")
    return {head: _nested(rest, value) if rest else value}


def _value(value: Any) -> Any:
    """A YAML scalar, with ``1e-4`` (a string to YAML 1.1) read as a number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def recipe_overrides(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The recipe settings the options give, as nested layers (short options, then --hp,
    then the env options)."""
    import yaml

    layers = []
    for option, path in SHORT_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            layers.append(_nested(path, value))
    if args.teacher is not None and args.teacher.lower() in ("none", "null", ""):
        layers.append({"imitation": {"teacher": None}})
    if args.normalize_reward:
        layers.append({"normalize_reward": True})
    for item in args.hp:
        path, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--hp takes KEY=VALUE (e.g. ppo.gamma=0.99), got {item!r}")
        layers.append(_nested(path.strip(), _value(yaml.safe_load(text))))
    env_layers = []
    if args.env_kwargs:
        try:
            env_kwargs = json.loads(args.env_kwargs)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--env-kwargs is not valid JSON: {error}") from None
        if not isinstance(env_kwargs, dict):
            raise ConfigError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
        env_layers.append(env_kwargs)
    env_layers += overrides_from_args(args)
    layers += [{"env": layer} for layer in env_layers]
    return layers


def run(args: argparse.Namespace) -> int:
    missing = _missing(_REQUIRED)
    if missing:
        print(
            f"pecgym train: error: {', '.join(missing)} not installed; {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    spec = get_scenario(args.env)
    config = load_recipe(spec.env_id, args.config, *recipe_overrides(args))
    spec.config(config.env)  # a bad env setting fails here, before any work
    if args.resume and not Path(args.resume).is_file():
        raise ValueError(f"--resume: no checkpoint at {args.resume}")
    for option, folder in (("--out", args.out), ("--tensorboard", args.tensorboard)):
        if folder:
            output_dir(folder, option)
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        output_file(args.save, "--save")
    if args.out is None and args.save is None:
        print(
            "pecgym train: warning: neither --out nor --save is given: the trained agent will "
            "not be saved",
            file=sys.stderr,
        )
    if config.actual_timesteps != config.timesteps:
        print(
            f"PPO collects whole rollouts of n_steps x num_envs = {config.rollout_steps} steps: "
            f"{config.timesteps} timesteps become {config.actual_timesteps}"
        )
    from pecgym.agents.training import train

    run = train(
        spec.env_id,
        config,
        out=args.out,
        tensorboard_log=args.tensorboard,
        resume=args.resume,
        progress_bar=args.progress,
        name=args.name,
        verbose=1 if args.verbose else 0,
    )
    if args.save:
        run.model.save(args.save)
    took = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
    print(f"trained {config.algo} on {spec.env_id}: {run.timesteps} PPO steps ({took})")
    if run.imitation_history:
        last = run.imitation_history[-1]
        print(
            f"imitation of {config.imitation.teacher}: {last['samples']} decisions, "
            f"accuracy {last['accuracy']:.3f}"
        )
    if run.eval_history:
        best = min(run.eval_history, key=lambda row: row["objective"])
        print(
            f"validation objective: best {best['objective']:.4g} at {int(best['timesteps'])} "
            f"steps, last {run.eval_history[-1]['objective']:.4g}"
        )
    for label, path in sorted(run.files.items()):
        print(f"{label}: {path}")
    if args.save:
        print(f"saved the agent to {args.save}")
    if args.tensorboard:
        print(f"TensorBoard logs in {args.tensorboard} (tensorboard --logdir {args.tensorboard})")
    if run.interrupted:
        saved = run.files.get("final") or args.save
        hint = f"; resume with --resume {saved}" if saved else ""
        print(f"interrupted at {run.timesteps} steps{hint}", file=sys.stderr)
        return 130
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command."""
    parser = subparsers.add_parser(
        "train",
        help="train a PPO agent on a scheduling env",
        description=(
            "Train a MaskablePPO (or PPO) agent on batched copies of a pecgym env, from the "
            "env id's recipe (imitation warm start, hyperparameters, validation). Needs the RL "
            f"extras ({INSTALL_HINT})."
        ),
    )
    parser.add_argument("--env", default="pecgym/ConvBusy-v1", help="env id")
    parser.add_argument("--config", metavar="FILE", help="a YAML recipe overriding the env's")
    parser.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any recipe field, e.g. --hp ppo.ent_coef=0.01 (repeatable)",
    )
    parser.add_argument("--out", metavar="DIR", help="run folder: models, curves, recipe")
    parser.add_argument("--save", metavar="PATH", help="also save the final agent here (.zip)")
    parser.add_argument("--resume", metavar="PATH", help="continue from a saved checkpoint")
    parser.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard logs here")
    parser.add_argument("--name", help="the agent's name in tables")
    group = parser.add_argument_group("recipe (short options)")
    group.add_argument("--timesteps", type=int, help="PPO env steps")
    group.add_argument("--num-envs", type=int, help="envs stepped together")
    group.add_argument("--seed", type=int, help="seed of envs, model and demonstrations")
    group.add_argument("--algo", choices=ALGOS)
    group.add_argument("--teacher", help="heuristic to clone first (none: no warm start)")
    group.add_argument("--eval-every", type=int, help="env steps between validations")
    group.add_argument("--checkpoint-every", type=int, help="env steps between checkpoints")
    group.add_argument("--learning-rate", type=float)
    group.add_argument("--n-steps", type=int, help="rollout steps per env and update")
    group.add_argument("--batch-size", type=int, help="minibatch size")
    group.add_argument("--n-epochs", type=int, help="passes over each rollout")
    group.add_argument("--gamma", type=float, help="discount")
    group.add_argument("--ent-coef", type=float, help="entropy coefficient")
    group.add_argument("--normalize-reward", action="store_true", help="VecNormalize rewards")
    group.add_argument("--action-prior", type=float, help="initial logit of WAIT / auto starts")
    group.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest here)")
    parser.add_argument(
        "--env-kwargs",
        metavar="JSON",
        help='env settings as nested JSON, e.g. \'{"cluster": {"num_instances": 8}}\'',
    )
    add_config_arguments(parser, scenario=False)
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    parser.add_argument("--verbose", action="store_true", help="print SB3's training log")
    parser.set_defaults(handler=run)
