"""pecgym: a batched NumPy Gymnasium environment and benchmark for LLM-inference scheduling.

Importing the package registers the env ids ``pecgym/ClusterSched-v0`` and the named
scenarios (see :mod:`pecgym.envs.registration`).
"""

from pecgym.envs.registration import register_envs

__version__ = "0.1.0"

register_envs()
