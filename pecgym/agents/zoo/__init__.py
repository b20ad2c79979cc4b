"""The shipped agents, loadable by name: ``agent:conv-busy`` in any policy list.

Each agent is ``<name>.zip`` (the SB3 model, carrying the env config it was trained on),
``<name>.yaml`` (its env id, recipe, seed, training budget and the figures measured when it
was trained) and ``<name>_eval.csv`` (its validation curve). ``scripts/train_zoo.py``
retrains them all. Any saved agent loads by path the same way (``agent:PATH.zip``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

ZOO_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """The shipped agents' names."""
    return sorted(p.stem for p in ZOO_DIR.glob("*.zip"))


def agent_path(spec: str) -> Path:
    """The model file of a shipped agent's name or of a path (a clear error if neither)."""
    shipped = ZOO_DIR / f"{spec}.zip"
    if shipped.exists():
        return shipped
    path = Path(spec)
    for candidate in (path, path.with_suffix(".zip")):
        if candidate.is_file():
            return candidate
    known = ", ".join(names()) or "none"
    raise ValueError(f"no agent {spec!r}: not a shipped agent ({known}) nor a saved .zip file")


def agent_card(name: str) -> dict[str, Any]:
    """A shipped agent's card (``<name>.yaml``): env id, recipe, budget, measured figures."""
    import yaml

    path = ZOO_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"no shipped agent {name!r}; shipped: {', '.join(names()) or 'none'}")
    return yaml.safe_load(path.read_text())


def algo_of(path: Path) -> str:
    """``maskable_ppo`` or ``ppo``, read from a saved model's zip (an error if it is not
    one)."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError):
        raise ValueError(f"{path} is not a saved stable-baselines3 agent") from None
    policy = json.dumps(data.get("policy_class", ""))
    return "maskable_ppo" if "maskable" in policy.lower() else "ppo"


def load_model(spec: str | Path, env: Any = None):
    """The SB3 model of a shipped agent's name or a saved ``.zip``."""
    from pecgym.agents.training import algo_class

    path = agent_path(str(spec))
    return algo_class(algo_of(path)).load(path, env=env, device="cpu")


def load_policy(spec: str, *, deterministic: bool = True):
    """An :class:`~pecgym.agents.policy.AgentPolicy` named ``agent:<spec>``."""
    from pecgym.agents.policy import AgentPolicy

    return AgentPolicy(load_model(spec), deterministic=deterministic, name=f"agent:{spec}")
