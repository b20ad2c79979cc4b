"""Training recipes as data: :class:`TrainConfig`, and the per-env-id recipes in YAML.

A recipe is what ``pecgym train`` runs: the algorithm, budget, PPO hyperparameters, the
imitation warm start, evaluation and checkpointing, and the env settings the agent trains
and acts on (``env``: nested overrides of the scenario's config, e.g. its observation
layout). ``recipes.yaml`` beside this module holds one recipe per env id (the rl-zoo3
convention); :func:`load_recipe` deep-merges it, then a user's YAML file, then CLI settings,
onto the defaults declared here, checking every field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pecgym import baselines
from pecgym.envs.config import build_dataclass, to_plain
from pecgym.sim.config import ConfigError

RECIPES = Path(__file__).with_name("recipes.yaml")
ALGOS = ("maskable_ppo", "ppo")


@dataclass(frozen=True)
class PPOConfig:
    """The PPO hyperparameters (stable-baselines3 names)."""

    n_steps: int = 256
    batch_size: int = 512
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.999
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        if self.n_steps < 1 or self.batch_size < 2 or self.n_epochs < 1:
            raise ConfigError("n_steps and n_epochs must be >= 1 and batch_size >= 2")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ConfigError(f"gamma must be in (0, 1] and gae_lambda in [0, 1], got {self}")


@dataclass(frozen=True)
class ImitationConfig:
    """Behaviour cloning of a heuristic before PPO (``teacher: null`` for none).

    Attributes:
        teacher: the registered heuristic whose actions are cloned.
        episodes: demonstration episodes, on training seeds.
        epochs: passes over the demonstrations.
        batch_size: minibatch size.
        learning_rate: Adam's learning rate.
        value_coef: weight of fitting the value head to the discounted returns.
        dagger_rounds: DAgger rounds after the first fit: the clone acts for ``episodes``
            episodes, the teacher labels its decisions, the clone is refit on all labels.
    """

    teacher: str | None = None
    episodes: int = 32
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    value_coef: float = 1.0
    dagger_rounds: int = 0


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation during training on validation seeds (drawn from the training range, so the
    scenario's test seeds stay held out); the best evaluated model is kept.

    Attributes:
        every: env steps between evaluations (0: never).
        seeds: the validation seeds, ``[start, stop)``.
    """

    every: int = 0
    seeds: tuple[int, int] = (900_000, 900_010)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs, besides the env id (see the module docstring).

    Attributes:
        algo: ``maskable_ppo`` (samples only allowed actions) or ``ppo``.
        timesteps: env steps of PPO (rounded up to whole rollouts: ``n_steps x num_envs``).
        num_envs: envs stepped together.
        seed: seed of the envs, the model and the demonstrations.
        action_prior: initial logit of WAIT and of auto-placed starts (0: uniform).
        normalize_reward: scale rewards by a running estimate of the return's std
            (SB3's ``VecNormalize``, observations untouched).
        torch_threads: PyTorch CPU threads (1 is fastest for these MLPs).
        checkpoint_every: env steps between checkpoints (0: none).
        env: the env settings (nested overrides of the scenario's config).
    """

    algo: str = "maskable_ppo"
    timesteps: int = 100_000
    num_envs: int = 16
    seed: int = 0
    action_prior: float = 3.0
    normalize_reward: bool = False
    torch_threads: int = 1
    checkpoint_every: int = 0
    ppo: PPOConfig = field(default_factory=PPOConfig)
    imitation: ImitationConfig = field(default_factory=ImitationConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    env: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ConfigError(f"algo must be one of {ALGOS}, got {self.algo!r}")
        if self.timesteps < 0 or self.num_envs < 1:
            raise ConfigError("timesteps must be >= 0 and num_envs >= 1")
        teacher = self.imitation.teacher
        if teacher is not None and teacher.lower() not in baselines.REGISTRY:
            raise ConfigError(
                f"imitation.teacher {teacher!r} is not a heuristic; known: "
                f"{', '.join(baselines.names())}"
            )
        if teacher is not None and self.algo != "maskable_ppo":
            raise ConfigError("imitation needs algo maskable_ppo (it clones masked actions)")

    @property
    def rollout_steps(self) -> int:
        """Env steps per PPO update (``n_steps x num_envs``)."""
        return self.ppo.n_steps * self.num_envs

    @property
    def actual_timesteps(self) -> int:
        """The env steps PPO really takes: ``timesteps`` rounded up to whole rollouts."""
        return math.ceil(self.timesteps / self.rollout_steps) * self.rollout_steps

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as JSON/YAML-ready data."""
        return to_plain(self)


def build_train_config(*layers: Mapping[str, Any] | TrainConfig | None) -> TrainConfig:
    """A :class:`TrainConfig` from layers of nested settings (later wins). ``env`` is
    free-form here (the env config checks it); it is merged key by key."""
    env: dict[str, Any] = {}
    plain = []
    for layer in layers:
        if layer is None:
            continue
        layer = dict(to_plain(layer))
        env = _merge_free(env, layer.pop("env", None) or {})
        plain.append(layer)
    return dataclasses.replace(build_dataclass(TrainConfig, *plain), env=env)


def _merge_free(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge_free(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` (an error naming the file if it is not one)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no recipe file at {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping, got {type(data).__name__}")
    return data


def recipe_layers(env_id: str, path: str | Path | None = None) -> list[dict[str, Any]]:
    """The recipe layers of ``env_id``: the shipped recipe, then ``path``'s (a file holding
    either one recipe or recipes keyed by env id)."""
    from pecgym.envs.scenarios import get_scenario

    env_id = get_scenario(env_id).env_id
    layers = [read_yaml(RECIPES).get(env_id) or {}]
    if path is not None:
        data = read_yaml(path)
        keyed = any(str(key).startswith("pecgym/") for key in data)
        layers.append((data.get(env_id) or {}) if keyed else data)
    return layers


def load_recipe(
    env_id: str, path: str | Path | None = None, *overrides: Mapping[str, Any] | None
) -> TrainConfig:
    """The resolved recipe of ``env_id``: shipped, then ``path``'s, then ``overrides``."""
    return build_train_config(*recipe_layers(env_id, path), *overrides)
