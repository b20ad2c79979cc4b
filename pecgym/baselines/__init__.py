"""Baseline scheduling policies, by name: ``pecgym.baselines.get("pecsched")``.

===================  ========================================================  ===============
name                 rule                                                      after
===================  ========================================================  ===============
fifo                 one global arrival-order queue, nothing overtakes         LoongServe
random               a uniformly random allowed action (masked sampling)       sanity floor
reservation          long requests on a pool sized for 500K tokens, short on   FasterTransformer
                     the rest
priority             short first, long low priority, no preemption             LightLLM
sjf                  shortest prompt first                                     classic
pecsched             short first; preemption, disaggregation, colocation,      PecSched
                     fast SP
pecsched-no-preempt  ... a short prefill never preempts a long one             PecSched
pecsched-no-disagg   ... short decodes stay on the prefill instances           PecSched
pecsched-no-coloc    ... a short prefill pauses the long decode on its GPUs    PecSched
pecsched-no-fastsp   ... ring attention instead of Ulysses for long prefills   PecSched
qllm                 LS before BE, BE prefills parked (KV kept) for LS         QLLM
fcfs                 iteration-level FCFS over LS and BE                       QLLM's baseline
rr                   bind at arrival, round robin; each instance FCFS          Vidur
lor                  bind at arrival to the least outstanding instance; FCFS   Splitwise-sim
===================  ========================================================  ===============

FIFO, Reservation and Priority are PecSched's baselines, FCFS is QLLM's; ``rr`` and ``lor``
are the peer simulators' dispatch rules (for comparisons with them). Every policy here is
a :class:`~pecgym.envs.policy.Policy`: the heuristics decide simulator commands and encode
them as the env's actions (:class:`Heuristic`), random samples the action masks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from pecgym.baselines.base import Heuristic, Policy, policy_env_overrides
from pecgym.baselines.fcfs import FCFSPolicy
from pecgym.baselines.fifo import FIFOPolicy
from pecgym.baselines.pecsched import PecSchedPolicy
from pecgym.baselines.priority import PriorityPolicy
from pecgym.baselines.qllm import QLLMPolicy
from pecgym.baselines.random_policy import RandomPolicy
from pecgym.baselines.reservation import ReservationPolicy
from pecgym.baselines.routers import LeastOutstandingRouter, RoundRobinRouter
from pecgym.baselines.sjf import SJFPolicy

REGISTRY: dict[str, Callable[..., Any]] = {
    "fifo": FIFOPolicy,
    "random": RandomPolicy,
    "reservation": ReservationPolicy,
    "priority": PriorityPolicy,
    "sjf": SJFPolicy,
    "pecsched": PecSchedPolicy,
    "pecsched-no-preempt": partial(PecSchedPolicy, preempt=False),
    "pecsched-no-disagg": partial(PecSchedPolicy, disaggregate=False),
    "pecsched-no-coloc": partial(PecSchedPolicy, colocate=False),
    "pecsched-no-fastsp": partial(PecSchedPolicy, fast_sp=False),
    "qllm": QLLMPolicy,
    "fcfs": FCFSPolicy,
    "rr": RoundRobinRouter,
    "lor": LeastOutstandingRouter,
}
"""Policy factories by CLI name (keyword arguments go to the constructor)."""

PECSCHED_STUDY = (
    "fifo",
    "reservation",
    "priority",
    "sjf",
    "pecsched",
    "pecsched-no-preempt",
    "pecsched-no-disagg",
    "pecsched-no-coloc",
    "pecsched-no-fastsp",
)
"""The policies of the PecSched comparison (baselines, then PecSched and its ablations)."""

QLLM_STUDY = ("fcfs", "qllm")
"""The policies of the QLLM comparison."""


def names() -> list[str]:
    """Registered policy names."""
    return list(REGISTRY)


def get(name: str, **kwargs: Any) -> Policy:
    """A new policy by registered name (keyword arguments go to its constructor)."""
    try:
        factory = REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(names())}") from None
    return factory(**kwargs)


__all__ = [
    "PECSCHED_STUDY",
    "QLLM_STUDY",
    "REGISTRY",
    "FCFSPolicy",
    "FIFOPolicy",
    "Heuristic",
    "LeastOutstandingRouter",
    "PecSchedPolicy",
    "Policy",
    "PriorityPolicy",
    "QLLMPolicy",
    "RandomPolicy",
    "ReservationPolicy",
    "RoundRobinRouter",
    "SJFPolicy",
    "get",
    "names",
    "policy_env_overrides",
]
