"""Simulator speed: FIFO on the whole Azure 2023 conversation trace, and batch scaling.

Not a test: prints wall time, simulated events per second and requests per second for FIFO
on the whole trace (19,366 requests over ~58 minutes) on 32 Llama-3-8B A100 instances,
against the target of 20 s. With ``--envs N`` it also times the batched simulator on 1, 2,
4, ..., N envs, each a different seeded window of the trace, and reports the wall time per
env (batching pays when that falls as the batch grows).

    python benchmarks/bench_sim.py [TRACE] [--envs 16] [--window 600]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pecgym.baselines import FIFOPolicy
from pecgym.sim.config import ClusterConfig
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim
from pecgym.traces.spec import WorkloadSpec, cached_trace

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "AzureLLMInferenceTrace_conv.csv"
TARGET_SECONDS = 20.0


def timed_run(config: ClusterConfig, workloads) -> tuple[float, ClusterSim]:
    sim = ClusterSim(config, workloads)
    started = time.perf_counter()
    replay(sim, FIFOPolicy().decide)
    return time.perf_counter() - started, sim


def row(label: str, wall: float, sim: ClusterSim) -> dict[str, object]:
    events = int(sim.num_events.sum())
    requests = int(sim.num_requests.sum())
    return {
        "run": label,
        "envs": sim.num_envs,
        "requests": requests,
        "done": int(sim.num_done.sum()),
        "events": events,
        "wall_s": wall,
        "wall_per_env_s": wall / sim.num_envs,
        "events_per_s": events / wall,
        "requests_per_s": requests / wall,
    }


COLUMNS = (  # name, width, format
    ("run", 14, "{:<14}"),
    ("envs", 5, "{:>5}"),
    ("requests", 9, "{:>9}"),
    ("done", 9, "{:>9}"),
    ("events", 9, "{:>9}"),
    ("wall_s", 8, "{:>8.2f}"),
    ("wall_per_env_s", 14, "{:>14.3f}"),
    ("events_per_s", 12, "{:>12,.0f}"),
    ("requests_per_s", 14, "{:>14,.0f}"),
)


def print_table(rows: list[dict[str, object]]) -> None:
    print("  ".join(name.ljust(w) if name == "run" else name.rjust(w) for name, w, _ in COLUMNS))
    for values in rows:
        print("  ".join(fmt.format(values[name]) for name, _, fmt in COLUMNS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", default=str(DEFAULT_TRACE), help="trace CSV")
    parser.add_argument("--instances", type=int, default=32, help="instances (default: 32)")
    parser.add_argument("--envs", type=int, default=0, help="also time batches of up to N envs")
    parser.add_argument(
        "--window", type=float, default=600.0, help="seconds of trace per env in batches"
    )
    args = parser.parse_args()

    config = ClusterConfig(model="llama-3-8b", gpu="a100", num_instances=args.instances)
    started = time.perf_counter()
    trace = cached_trace(args.trace)
    print(
        f"trace {Path(args.trace).name}: {len(trace)} requests over {trace.duration:.1f} s "
        f"(parsed in {time.perf_counter() - started:.2f} s); cluster {args.instances} x "
        f"{config.model} on {config.gpu}, FIFO\n"
    )

    wall, sim = timed_run(config, [trace])
    rows = [row("whole trace", wall, sim)]
    print_table(rows)
    verdict = "PASS" if wall < TARGET_SECONDS else "FAIL"
    print(
        f"\nwhole trace: {wall:.2f} s wall for {sim.clock[0]:.0f} s simulated "
        f"({sim.clock[0] / wall:.0f}x real time); target < {TARGET_SECONDS:.0f} s: {verdict}"
    )
    if not args.envs:
        return

    spec = WorkloadSpec(source=args.trace, num_requests=None, duration=args.window)
    sizes = sorted({*(2**k for k in range(int(np.log2(args.envs)) + 1)), args.envs})
    windows = [spec.build(seed) for seed in range(max(sizes))]
    batch_rows = []
    for size in sizes:
        wall, sim = timed_run(config, windows[:size])
        batch_rows.append(row(f"batch of {size}", wall, sim))
    print(f"\nbatched: {args.window:.0f} s windows of the trace, one seed per env\n")
    print_table(batch_rows)
    one, most = batch_rows[0], batch_rows[-1]
    print(
        f"\nwall time per env: {one['wall_per_env_s']:.3f} s alone, "
        f"{most['wall_per_env_s']:.3f} s in a batch of {most['envs']} "
        f"({one['wall_per_env_s'] / most['wall_per_env_s']:.1f}x less)"
    )


if __name__ == "__main__":
    main()
