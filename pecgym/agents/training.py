"""Train PPO / MaskablePPO agents on the pecgym envs from a :class:`TrainConfig` recipe.

:func:`train` builds the batched env, the model (or resumes a checkpoint), optionally clones
a heuristic first (:mod:`pecgym.agents.imitation`), then runs PPO with the episode metrics
and the validation evaluation logged to TensorBoard, checkpoints, and a clean stop on
Ctrl-C. A run's folder (``out``) receives::

    recipe.yaml      the resolved recipe and env config
    final.zip        the model at the end (or at Ctrl-C)
    best.zip         the model with the best validation objective
    eval.csv         the validation curve
    imitation.csv    behaviour cloning's per-epoch loss and accuracy
    checkpoints/     periodic checkpoints (resume with ``resume=PATH``)

Every saved model carries ``pecgym_meta`` (env id, resolved env config, recipe, version), so
it can be evaluated anywhere by path. torch and SB3 are imported only here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pecgym.agents.config import TrainConfig, build_train_config
from pecgym.envs.scenarios import get_scenario

INSTALL_HINT = 'install the RL extras: pip install "torch==2.13.0" -e ".[rl]"'


@dataclass
class TrainRun:
    """What :func:`train` did: the model, files written, the curves, and how long it took."""

    model: Any
    config: TrainConfig
    env_config: Any
    timesteps: int
    seconds: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)
    eval_history: list[dict[str, float]] = field(default_factory=list)
    imitation_history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False


def algo_class(algo: str) -> type:
    """The SB3 class of ``algo`` (a clear error if its package is missing)."""
    try:
        if algo == "maskable_ppo":
            from sb3_contrib import MaskablePPO

            return MaskablePPO
        from stable_baselines3 import PPO

        return PPO
    except ImportError as error:
        raise ImportError(f"{algo} needs stable-baselines3 and sb3-contrib; {INSTALL_HINT}") from (
            error
        )


def train(
    env_id: str,
    config: TrainConfig | dict | None = None,
    *,
    out: str | Path | None = None,
    tensorboard_log: str | Path | None = None,
    resume: str | Path | None = None,
    progress_bar: bool = False,
    run_name: str | None = None,
    name: str | None = None,
    callbacks: Sequence[Any] = (),
    verbose: int = 0,
) -> TrainRun:
    """Train an agent on ``env_id`` with the recipe ``config`` (see the module docstring).

    ``resume`` continues from a saved model (its timestep count included) for the rest of
    ``config.timesteps``. ``name`` labels the agent in tables (default: the algorithm).
    """

    config = config if isinstance(config, TrainConfig) else build_train_config(config)
    spec = get_scenario(env_id)
    env_config = spec.config(config.env)
    cls = algo_class(config.algo)
    configure_torch(config.torch_threads)
    out = None if out is None else Path(out)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _write_recipe(out / "recipe.yaml", spec.env_id, config, env_config)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    env = _make_env(spec.env_id, config, env_config)
    meta = {
        "name": name or config.algo,
        "env_id": spec.env_id,
        "env_config": env_config.to_dict(),
        "recipe": config.to_dict(),
        "pecgym_version": _version(),
    }
    if resume is not None:
        model = cls.load(resume, env=env, device="cpu", tensorboard_log=_str(tensorboard_log))
    else:
        model = _new_model(cls, env, config, tensorboard_log)
    model.pecgym_meta = meta
    run = TrainRun(model, config, env_config, 0, seconds)
    if resume is None and config.imitation.teacher:
        run.imitation_history = _warm_start(model, config, env_config, verbose)
        seconds["imitation"] = time.perf_counter() - started
        if out is not None:
            _write_csv(out / "imitation.csv", run.imitation_history)
    metrics, evaluator, extra = _callbacks(config, env_config, out, verbose)
    done_before = model.num_timesteps if resume is not None else 0
    remaining = config.actual_timesteps - done_before
    learn_started = time.perf_counter()
    try:
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=[metrics, *extra, *callbacks],
                tb_log_name=run_name or meta["name"],
                progress_bar=progress_bar,
                reset_num_timesteps=resume is None,
            )
    except KeyboardInterrupt:
        run.interrupted = True
    seconds["ppo"] = time.perf_counter() - learn_started
    seconds["total"] = time.perf_counter() - started
    run.timesteps = int(model.num_timesteps)
    if evaluator is not None:
        run.eval_history = evaluator.history
    if out is not None:
        model.save(out / "final.zip")
        run.files["final"] = out / "final.zip"
        if evaluator is not None and evaluator.history:
            _write_csv(out / "eval.csv", run.eval_history)
            run.files["eval"] = out / "eval.csv"
            if evaluator.best_path is not None and evaluator.best_path.exists():
                run.files["best"] = evaluator.best_path
    env.close()
    return run


def configure_torch(threads: int) -> None:
    """CPU threads for torch, and no argument validation in torch.distributions: checking
    every masked categorical's logits costs about a third of building it, on every rollout
    step and minibatch (the logits come from the network, never from a user)."""
    import torch

    torch.set_num_threads(threads)
    torch.distributions.Distribution.set_default_validate_args(False)


def _make_env(env_id: str, config: TrainConfig, env_config: Any):
    from pecgym.envs.sb3 import make_sb3_vec_env

    env = make_sb3_vec_env(env_id, config.num_envs, config=env_config)
    env.seed(config.seed)
    if config.normalize_reward:
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=config.ppo.gamma)
    return env


def _new_model(cls: type, env: Any, config: TrainConfig, tensorboard_log: Any):
    ppo = config.ppo.__dict__ | {}
    net_arch = list(ppo.pop("net_arch"))
    model = cls(
        "MultiInputPolicy",
        env,
        seed=config.seed,
        device="cpu",
        verbose=0,
        tensorboard_log=_str(tensorboard_log),
        policy_kwargs={"net_arch": net_arch},
        **ppo,
    )
    if config.action_prior:
        set_action_prior(model, _core(env).layout, config.action_prior)
    return model


def _core(env: Any):
    """The :class:`~pecgym.envs.core.SchedCore` under an SB3 env (wrapped or not)."""
    while not hasattr(env, "env") or not hasattr(env.env, "core"):
        env = env.venv
    return env.env.core


def _warm_start(
    model: Any, config: TrainConfig, env_config: Any, verbose: int = 0
) -> list[dict[str, float]]:
    from pecgym import baselines
    from pecgym.agents.imitation import clone, collect_demonstrations, merge
    from pecgym.agents.policy import AgentPolicy

    imitation = config.imitation
    teacher = baselines.get(imitation.teacher)
    first = env_config.seeds.train[0] + 500_000 + config.seed * 1000
    history: list[dict[str, float]] = []
    demos = None
    for round_ in range(imitation.dagger_rounds + 1):
        seeds = range(
            first + round_ * imitation.episodes, first + (round_ + 1) * imitation.episodes
        )
        student = None if demos is None else AgentPolicy(model)
        found = collect_demonstrations(teacher, env_config, seeds, config.ppo.gamma, student)
        demos = found if demos is None else merge(demos, found)
        actor_objective = float(np.mean([e["objective"] for e in found.episodes]))
        lost = int(sum(e.get("unencodable", 0) for e in found.episodes))
        rows = clone(
            model,
            demos,
            epochs=imitation.epochs,
            batch_size=imitation.batch_size,
            learning_rate=imitation.learning_rate,
            value_coef=imitation.value_coef,
            seed=config.seed + round_,
        )
        for row in rows:
            row.update(
                round=round_,
                samples=len(demos),
                actor="teacher" if student is None else "clone",
                actor_objective=actor_objective,
                teacher_unencodable=lost,
            )
        history += rows
        if verbose:
            print(
                f"imitation round {round_}: {rows[-1]['actor']} acted (objective "
                f"{actor_objective:.4g}), {len(demos)} labelled decisions, accuracy "
                f"{rows[-1]['accuracy']:.3f}",
                flush=True,
            )
    return history


def _callbacks(config: TrainConfig, env_config: Any, out: Path | None, verbose: int):
    from stable_baselines3.common.callbacks import CheckpointCallback

    from pecgym.agents.callbacks import EpisodeMetricsCallback, SchedEvalCallback

    extra: list[Any] = []
    evaluator = None
    if config.eval.every > 0:
        evaluator = SchedEvalCallback(
            env_config,
            range(*config.eval.seeds),
            config.eval.every,
            best_path=None if out is None else out / "best.zip",
            verbose=verbose,
        )
        extra.append(evaluator)
    if config.checkpoint_every > 0 and out is not None:
        every = max(1, config.checkpoint_every // config.num_envs)
        extra.append(CheckpointCallback(every, str(out / "checkpoints"), name_prefix="agent"))
    return EpisodeMetricsCallback(), evaluator, extra


def set_action_prior(model: Any, layout: Any, logit: float) -> None:
    """Start ``model``'s policy with logit ``logit`` on WAIT and on the auto-placed,
    colocated START of every queue row (0 on the other actions).

    A uniform initial policy over the allowed actions almost never waits: pauses and
    migrations outnumber WAIT a hundredfold, so it commands nearly every live request at
    every instant (about 115 steps per request on the benchmark scenarios) and a 256-request
    episode outlasts a short training run. With this prior the first policy mostly starts
    what it can and lets time run, and learning moves it from there.
    """
    import torch

    head = model.policy.action_net
    with torch.no_grad():
        bias = torch.zeros_like(head.bias)
        rows = torch.as_tensor(layout.start(np.arange(layout.queue_rows), 0, 0))
        bias[0] = logit
        bias[rows] = logit
        head.bias.copy_(bias)


def _write_recipe(path: Path, env_id: str, config: TrainConfig, env_config: Any) -> None:
    import yaml

    data = {"env_id": env_id, "recipe": config.to_dict(), "env_config": env_config.to_dict()}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _write_csv(path: Path, rows: list[dict[str, float]]) -> None:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False, float_format="%.6g")


def _str(path: Any) -> str | None:
    return None if path is None else str(path)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pecgym")
    except PackageNotFoundError:
        return "unknown"
