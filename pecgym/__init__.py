"""pecgym: a batched NumPy Gymnasium environment and benchmark for LLM-inference scheduling.

Importing the package registers one env id per scenario, ``pecgym/<Name>-v1`` (see
:mod:`pecgym.envs.scenarios`).
"""

from pecgym.envs.registration import register_envs

__version__ = "0.3.0"

register_envs()
