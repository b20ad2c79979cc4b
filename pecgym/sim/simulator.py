"""The batched cluster simulator: E independent clusters in one set of NumPy arrays.

Every array has a leading env axis: per request ``(E, R)``, per instance ``(E, I)``, per env
``(E,)``. Each env keeps its own clock and jumps to its own next event; between events every
rate is constant (a fluid model of continuous batching), so event times are exact. See
``docs/design.md`` for the model and the reasoning behind it.

Per instance and iteration: one prefill chunk (at most one prefill job per instance) plus the
whole decode batch. A prefill running alone goes at full speed; beside a decode batch it gets
the chunk's share of each mixed iteration, and the decode batch pays the chunk's time too.
A request on several instances (sequence parallelism) moves at the pace of its slowest member.
KV memory is reserved for the whole prompt at start and grows with every decoded token; when
an instance runs out, the engine evicts its most recently started decode (recompute), as
vLLM does.
"""

from __future__ import annotations

from pecgym.sim.clock import EventClock, SimulationError
from pecgym.sim.cluster_state import ROOM_TOLERANCE
from pecgym.sim.commands import CommandRunner, Commands

__all__ = ["ROOM_TOLERANCE", "ClusterSim", "Commands", "SimulationError"]


class ClusterSim(EventClock, CommandRunner):
    """E independent clusters of ``config.num_instances`` instances, each with a workload.

    The state and its views are :class:`~pecgym.sim.cluster_state.ClusterState`; time is
    :class:`~pecgym.sim.clock.EventClock`; commands are
    :class:`~pecgym.sim.commands.CommandRunner`.
    """
