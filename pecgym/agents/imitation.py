"""Imitation warm start: clone a heuristic's env actions into a MaskablePPO policy.

Demonstrations come from the heuristic acting through the env's own actions
(:func:`collect_demonstrations` wraps it in a recorder and runs the one rollout loop), so an
agent learns exactly the actions it can take, under the same masks and observation layout.
:func:`clone` then fits the policy by maximum likelihood of the teacher's actions under the
masks, and the value head to the discounted returns, so PPO fine-tunes from a policy and a
critic that already agree. A clone drifts into states the teacher never visits, where its
small errors compound; DAgger rounds (Ross et al., 2011) fix that: the clone acts, the
teacher (which can read any state of the simulator) labels every decision, and the clone is
refit on all the labels so far.

A small torch loop, not the ``imitation`` library: that library's behaviour cloning expects
transitions from a Gymnasium env and its own policy objects, and neither knows action masks;
here the masks and the MaskablePPO policy's ``evaluate_actions`` do the work in ~40 lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pecgym.benchmark.rollout import rollout
from pecgym.envs.config import EnvConfig
from pecgym.envs.core import SchedCore, StepResult
from pecgym.envs.policy import Policy


@dataclass
class Demonstrations:
    """Per decision of the teacher: observation, action masks, action and discounted return."""

    observations: dict[str, np.ndarray]
    masks: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    episodes: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.actions)


class _Recorder:
    """A policy that acts as ``student`` (default: the teacher) and keeps, for every live
    env, what it saw and what ``teacher`` would do."""

    def __init__(self, teacher: Policy, student: Policy | None = None) -> None:
        self.teacher = teacher
        self.student = student
        self.name = teacher.name
        self.steps: list[tuple[dict, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.rewards: list[np.ndarray] = []

    def bind(self, core: SchedCore) -> None:
        if callable(getattr(self.teacher, "bind", None)):
            self.teacher.bind(core)

    def act(self, observation: dict, masks: np.ndarray, core: SchedCore) -> np.ndarray:
        labels = np.asarray(self.teacher.act(observation, masks, core))
        live = ~core.sim.read("finished")
        # in the student's states the teacher may pick an action the env refuses (e.g. a
        # request the student already commanded this instant), or a command no action
        # expresses (it then answers WAIT): no label there
        allowed = masks[np.arange(len(labels)), labels]
        lost = getattr(self.teacher, "lost", None)
        if lost is not None:
            allowed &= ~lost
        self.steps.append((observation, masks, labels, live.copy(), live & allowed))
        if self.student is None:
            return labels
        return self.student.act(observation, masks, core)

    def episode_stats(self, env: int) -> dict:
        stats = getattr(self.teacher, "episode_stats", None)
        return stats(env) if callable(stats) else {}

    def on_step(self, result: StepResult) -> None:
        self.rewards.append(np.asarray(result.reward, dtype=np.float64))


def collect_demonstrations(
    teacher: Policy,
    config: EnvConfig,
    seeds: Sequence[int],
    gamma: float,
    student: Policy | None = None,
) -> Demonstrations:
    """Run ``teacher`` (or ``student``, labelled by the teacher) on ``config`` for one
    episode per seed and record the teacher's decisions."""
    recorder = _Recorder(teacher, student)
    done = rollout(recorder, config, seeds, on_step=recorder.on_step)
    rewards = np.stack(recorder.rewards)  # (T, N)
    live = np.stack([step[3] for step in recorder.steps])
    returns = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in range(len(rewards) - 1, -1, -1):  # discounted return-to-go of every env
        running = np.where(live[t], rewards[t] + gamma * running, 0.0)
        returns[t] = running
    keep = np.stack([step[4] for step in recorder.steps])
    keys = recorder.steps[0][0].keys()
    observations = {k: np.concatenate([s[0][k][s[4]] for s in recorder.steps]) for k in keys}
    return Demonstrations(
        observations=observations,
        masks=np.concatenate([s[1][s[4]] for s in recorder.steps]),
        actions=np.concatenate([s[2][s[4]] for s in recorder.steps]).astype(np.int64),
        returns=returns[keep],
        episodes=done.episodes,
    )


def merge(first: Demonstrations, second: Demonstrations) -> Demonstrations:
    """The demonstrations of both (DAgger's aggregate)."""
    return Demonstrations(
        observations={
            key: np.concatenate([first.observations[key], second.observations[key]])
            for key in first.observations
        },
        masks=np.concatenate([first.masks, second.masks]),
        actions=np.concatenate([first.actions, second.actions]),
        returns=np.concatenate([first.returns, second.returns]),
        episodes=first.episodes + second.episodes,
    )


def clone(
    model: Any,
    demos: Demonstrations,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    value_coef: float,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Fit ``model``'s policy (MaskablePPO) to ``demos``; returns per-epoch loss, accuracy."""
    import torch

    policy = model.policy
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    rng = np.random.default_rng(seed)
    obs, _ = policy.obs_to_tensor(demos.observations)
    actions = torch.as_tensor(demos.actions)
    returns = torch.as_tensor(demos.returns, dtype=torch.float32)
    masks = demos.masks
    history = []
    policy.set_training_mode(True)
    for epoch in range(epochs):
        order = rng.permutation(len(demos))
        sums = np.zeros(3)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = {k: v[idx] for k, v in obs.items()}
            values, dist = _forward(policy, batch, masks[idx])
            log_prob = dist.log_prob(actions[idx])
            value_loss = torch.nn.functional.mse_loss(values.flatten(), returns[idx])
            loss = -log_prob.mean() + value_coef * value_loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
            greedy = dist.distribution.logits.detach().argmax(dim=1)
            hits = (greedy == actions[idx]).sum().item()
            sums += (-log_prob.sum().item(), value_loss.item() * len(idx), hits)
        n = len(order)
        history.append(
            {"epoch": epoch, "nll": sums[0] / n, "value_mse": sums[1] / n, "accuracy": sums[2] / n}
        )
    policy.set_training_mode(False)
    return history


def _forward(policy: Any, obs: Any, masks: np.ndarray) -> tuple[Any, Any]:
    """Values and the masked action distribution of ``obs`` in one pass (what
    MaskablePPO's ``evaluate_actions`` computes, keeping the distribution)."""
    features = policy.extract_features(obs)
    if policy.share_features_extractor:
        latent_pi, latent_vf = policy.mlp_extractor(features)
    else:
        pi_features, vf_features = features
        latent_pi = policy.mlp_extractor.forward_actor(pi_features)
        latent_vf = policy.mlp_extractor.forward_critic(vf_features)
    dist = policy._get_action_dist_from_latent(latent_pi)
    dist.apply_masking(masks)
    return policy.value_net(latent_vf), dist
