"""Learned scheduling agents: PPO / MaskablePPO training, loading, and env policies.

Importing this package does not import torch or stable-baselines3; training and loading do.
"""

from pecgym.agents.policy import AgentPolicy, EnvPolicy, HeuristicPolicy, run_episodes
from pecgym.agents.ppo import ALGOS, load_agent, train_ppo

__all__ = [
    "ALGOS",
    "AgentPolicy",
    "EnvPolicy",
    "HeuristicPolicy",
    "load_agent",
    "run_episodes",
    "train_ppo",
]
