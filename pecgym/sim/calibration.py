"""Compare the cost model with vidur's public GPU profiles.

vidur (Microsoft, MLSys'24) ships per-operation timings measured on real GPUs:
``compute/<gpu>/<hf model>/mlp.csv`` has one row per ``(num_tokens,
num_tensor_parallel_workers)`` with the median time in ms of each op of ONE layer, and
``network/<gpu>_dgx/all_reduce.csv`` times NCCL all-reduces by message size (bytes).

The reference for :meth:`CostModel.linear_time` is the sum of the per-layer medians of every
op but the embedding, times the number of layers. A few token counts appear twice in the
tables (two profiling runs); the first row is used, as in DOMAIN.md's reference sums.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from pecgym.sim.costmodel import CostModel
from pecgym.sim.hardware import GPUS, get_gpu, get_model

LINEAR_OPS = (
    "input_layernorm",
    "attn_pre_proj",
    "attn_rope",
    "attn_post_proj",
    "post_attention_layernorm",
    "mlp_up_proj",
    "mlp_act",
    "mlp_down_proj",
    "add",
)
"""The per-layer ops of vidur's ``mlp.csv`` that :meth:`CostModel.linear_time` models."""

VIDUR_MODEL_DIRS = {
    "llama-3-8b": "meta-llama/Meta-Llama-3-8B",
    "llama-3-70b": "meta-llama/Meta-Llama-3-70B",
}
"""Model key -> directory under ``compute/<gpu>/`` in the vidur profiles."""

CALIBRATION_CASES = (("llama-3-8b", "a100", 1), ("llama-3-70b", "a100", 4))
"""(model, gpu, tp) tables the A100 efficiency factors were fitted on."""

DEFAULT_VIDUR_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "vidur"
"""``../shared/reference/vidur`` beside the project; override with ``PECGYM_VIDUR_DIR``."""


def default_vidur_dir() -> Path:
    """The vidur profile directory: ``$PECGYM_VIDUR_DIR`` or :data:`DEFAULT_VIDUR_DIR`."""
    return Path(os.environ.get("PECGYM_VIDUR_DIR", DEFAULT_VIDUR_DIR))


def _gpu_key(gpu: str) -> str:
    spec = get_gpu(gpu)
    return next(key for key, value in GPUS.items() if value == spec)


def mlp_csv_path(vidur_dir: str | Path, model: str, gpu: str = "a100") -> Path:
    """Path of the ``mlp.csv`` of ``model`` on ``gpu``; ValueError if it is not there."""
    spec = get_model(model)
    key = next((k for k in VIDUR_MODEL_DIRS if get_model(k) == spec), None)
    if key is None:
        raise ValueError(f"no vidur profile known for {spec.name}; known: {list(VIDUR_MODEL_DIRS)}")
    path = Path(vidur_dir) / "compute" / _gpu_key(gpu) / VIDUR_MODEL_DIRS[key] / "mlp.csv"
    if not path.is_file():
        raise FileNotFoundError(f"vidur profile not found: {path}")
    return path


def vidur_linear_ms(vidur_dir: str | Path, model: str, gpu: str = "a100", tp: int = 1) -> pd.Series:
    """Measured non-attention time of a forward pass, ms summed over layers, by token count."""
    table = pd.read_csv(mlp_csv_path(vidur_dir, model, gpu))
    table = table[table["num_tensor_parallel_workers"] == tp]
    if table.empty:
        raise ValueError(f"the vidur profile of {model} on {gpu} has no rows for tp={tp}")
    table = table.drop_duplicates("num_tokens", keep="first").set_index("num_tokens").sort_index()
    per_layer = table[[f"time_stats.{op}.median" for op in LINEAR_OPS]].sum(axis=1)
    series = per_layer * get_model(model).layers
    series.name = "vidur_ms"
    return series


def compare_linear(
    cost_model: CostModel, reference_ms: pd.Series, tokens: np.ndarray | None = None
) -> pd.DataFrame:
    """Table ``tokens, vidur_ms, model_ms, error_pct`` (error of the model relative to vidur)."""
    ref = reference_ms if tokens is None else reference_ms.loc[np.asarray(tokens)]
    n = ref.index.to_numpy(dtype=np.float64)
    model_ms = np.asarray(cost_model.linear_time(n)) * 1e3
    return pd.DataFrame(
        {
            "tokens": ref.index.to_numpy(dtype=np.int64),
            "vidur_ms": ref.to_numpy(dtype=np.float64),
            "model_ms": model_ms,
            "error_pct": (model_ms / ref.to_numpy(dtype=np.float64) - 1.0) * 100.0,
        }
    )


def calibration_table(
    vidur_dir: str | Path,
    model: str,
    gpu: str = "a100",
    tp: int = 1,
    tokens: np.ndarray | list[int] | None = None,
) -> pd.DataFrame:
    """:func:`compare_linear` of the default :class:`CostModel` against vidur's ``mlp.csv``."""
    reference = vidur_linear_ms(vidur_dir, model, gpu, tp)
    return compare_linear(CostModel(model, gpu, tp), reference, tokens)


def vidur_allreduce(vidur_dir: str | Path, gpu: str = "a100") -> pd.DataFrame:
    """Single-node all-reduce medians: columns ``num_workers, size_bytes, vidur_ms``."""
    path = Path(vidur_dir) / "network" / f"{_gpu_key(gpu)}_dgx" / "all_reduce.csv"
    if not path.is_file():
        raise FileNotFoundError(f"vidur profile not found: {path}")
    table = pd.read_csv(path)
    table = table[(table["rank"] == 0) & (table["num_workers"] == table["devices_per_node"])]
    return pd.DataFrame(
        {
            "num_workers": table["num_workers"].to_numpy(dtype=np.int64),
            "size_bytes": table["size"].to_numpy(dtype=np.float64),
            "vidur_ms": table["time_stats.all_reduce.median"].to_numpy(dtype=np.float64),
        }
    )


def compare_allreduce(vidur_dir: str | Path, gpu: str = "a100") -> pd.DataFrame:
    """vidur's all-reduce medians next to the model's single all-reduce time."""
    table = vidur_allreduce(vidur_dir, gpu)
    model_ms = np.empty(len(table))
    for tp in np.unique(table["num_workers"]):  # loop over the 3 TP degrees, not elements
        sel = (table["num_workers"] == tp).to_numpy()
        cm = CostModel("llama-3-8b", gpu, int(tp))
        # tp_allreduce_time covers 2 all-reduces per layer of tokens * hidden * 2 bytes.
        tokens = table["size_bytes"].to_numpy()[sel] / (cm.model.hidden * 2)
        per_call = np.asarray(cm.tp_allreduce_time(tokens)) / (2 * cm.model.layers)
        model_ms[sel] = per_call * 1e3
    table["model_ms"] = model_ms
    table["error_pct"] = (model_ms / table["vidur_ms"] - 1.0) * 100.0
    return table
