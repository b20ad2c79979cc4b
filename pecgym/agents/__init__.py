"""Learned scheduling agents: training recipes, PPO / MaskablePPO training with an imitation
warm start, the agent policy, and the shipped agents (``agent:NAME``).

Importing this package does not import torch or stable-baselines3; training and loading do.
"""

from pecgym.agents.config import TrainConfig, build_train_config, load_recipe
from pecgym.agents.policy import AgentPolicy
from pecgym.agents.zoo import load_model, load_policy


def train(*args, **kwargs):
    """:func:`pecgym.agents.training.train` (imports torch and SB3)."""
    from pecgym.agents.training import train as _train

    return _train(*args, **kwargs)


__all__ = [
    "AgentPolicy",
    "TrainConfig",
    "build_train_config",
    "load_model",
    "load_policy",
    "load_recipe",
    "train",
]
