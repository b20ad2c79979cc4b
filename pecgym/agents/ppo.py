"""Train and load PPO agents (stable-baselines3 / sb3-contrib) on the pecgym envs.

torch and SB3 are imported when a function needs them, so ``import pecgym.agents`` is cheap
and works without the ``rl`` extras.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ALGOS = ("maskable_ppo", "ppo")
INSTALL_HINT = 'install the RL extras: pip install -e ".[rl]"'


def _algo_class(algo: str) -> type:
    """The SB3 class of ``algo`` (a clear error if it or its package is missing)."""
    if algo not in ALGOS:
        raise ValueError(f"algo must be one of {ALGOS}, got {algo!r}")
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


def train_ppo(
    env_id: str = "pecgym/ConvBusy-v1",
    *,
    total_timesteps: int,
    num_envs: int = 8,
    seed: int = 0,
    algo: str = "maskable_ppo",
    env_kwargs: dict[str, Any] | None = None,
    tensorboard_log: str | Path | None = None,
    save_path: str | Path | None = None,
    progress_bar: bool = False,
    run_name: str | None = None,
    metric_keys: Sequence[str] | None = None,
    callbacks: Sequence[Any] = (),
    torch_threads: int | None = 1,
    action_prior: float = 3.0,
    **ppo_kwargs: Any,
):
    """Train a ``MultiInputPolicy`` agent on ``num_envs`` batched copies of ``env_id``.

    ``algo="maskable_ppo"`` samples only actions the per-field masks allow; ``"ppo"`` trains
    unmasked (invalid actions are penalised no-ops). Episode ``i`` of env ``j`` is seeded from
    ``seed + j``, so a run is reproducible. Each finished episode's metrics are logged under
    ``episode/`` (see :class:`pecgym.agents.callbacks.EpisodeMetricsCallback`) to TensorBoard
    when ``tensorboard_log`` is set. ``ppo_kwargs`` go to the algorithm (``n_steps``,
    ``batch_size``, ``learning_rate``...; ``device`` defaults to CPU, fastest for MLPs).
    The model is saved to ``save_path`` (a ``.zip``) if given, and returned.
    ``torch_threads`` (default 1) caps PyTorch's CPU threads: for these small MLP policies one
    thread is several times faster than the default, which contends with the env for cores.
    ``action_prior`` (see :func:`set_action_prior`) is the initial logit of waiting and of
    the auto-placed starts (0: a uniform initial policy).
    """
    if total_timesteps < 1:
        raise ValueError(f"total_timesteps must be >= 1, got {total_timesteps}")
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    cls = _algo_class(algo)
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)
    from pecgym.agents.callbacks import EPISODE_METRICS, EpisodeMetricsCallback
    from pecgym.envs.sb3 import make_sb3_vec_env

    env = make_sb3_vec_env(env_id, num_envs, **(env_kwargs or {}))
    ppo_kwargs.setdefault("device", "cpu")
    ppo_kwargs.setdefault("verbose", 0)
    model = cls(
        "MultiInputPolicy",
        env,
        seed=seed,
        tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
        **ppo_kwargs,
    )
    if action_prior:
        set_action_prior(model, env.env.core.layout, action_prior)
    metrics = EpisodeMetricsCallback(EPISODE_METRICS if metric_keys is None else metric_keys)
    model.learn(
        total_timesteps=total_timesteps,
        callback=[metrics, *callbacks],
        tb_log_name=run_name or algo,
        progress_bar=progress_bar,
    )
    if save_path is not None:
        path = Path(save_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    return model


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


def load_agent(
    path: str | Path, *, algo: str = "maskable_ppo", env: Any = None, device: str = "cpu"
):
    """Load a model saved by :func:`train_ppo` (``algo`` must match how it was trained)."""
    path = Path(path)
    if not path.exists() and not path.with_suffix(".zip").exists():
        raise FileNotFoundError(f"no saved agent at {path}")
    return _algo_class(algo).load(path, env=env, device=device)
