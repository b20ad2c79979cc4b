"""Env steps per second with random masked actions: native batched env vs SyncVectorEnv.

Not a test: prints a table measured in one run (ratios are what to compare on a noisy
machine). ``us/step`` is one batched step and ``x N=1`` its cost in single-env steps: with
N envs the speed-up over SyncVectorEnv is about N / (x N=1). Targets: native at N=64 at
least 30x SyncVectorEnv; native at N=256 at least 50,000 env steps/s.

    python benchmarks/bench_env.py [--env pecgym/ClusterSched-v1] [--seconds 3]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.envs.sampling import sample_masked_actions


def measure(env, masks_of, seconds: float, num_envs: int, seed: int = 0) -> float:
    """Env steps per second over about ``seconds`` of stepping (after a short warm-up)."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    masks = masks_of(env, info)
    steps = 0
    warmup = 20
    start = None
    while True:
        actions = sample_masked_actions(masks, rng)
        _, _, _, _, info = env.step(actions)
        masks = masks_of(env, info)
        steps += 1
        if steps == warmup:
            start = time.perf_counter()
        if start is not None and time.perf_counter() - start >= seconds:
            return (steps - warmup) * num_envs / (time.perf_counter() - start)


def native_masks(env, info):
    return info["action_mask"]


def sync_masks(env, info):
    return (
        np.stack(info["action_mask"])
        if info["action_mask"].dtype == object
        else info["action_mask"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="pecgym/ClusterSched-v1")
    parser.add_argument("--sizes", default="1,16,64,256")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--sync-max", type=int, default=64, help="largest N for SyncVectorEnv")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{args.env}: env steps/s with random masked actions ({args.seconds:.0f} s each)")
    print(f"{'N':>5} {'native':>12} {'us/step':>9} {'x N=1':>7} {'sync':>12} {'ratio':>8}")
    results = {}
    for n in sizes:
        native = gym.make_vec(args.env, num_envs=n, vectorization_mode="vector_entry_point")
        fast = measure(native, native_masks, args.seconds, n)
        native.close()
        slow = float("nan")
        if n <= args.sync_max:
            sync = gym.make_vec(args.env, num_envs=n, vectorization_mode="sync")
            slow = measure(sync, sync_masks, args.seconds, n)
            sync.close()
        results[n] = (fast, slow)
        ratio = fast / slow if slow == slow else float("nan")
        step_us = n / fast * 1e6  # one batched step
        relative = step_us / (1 / results[1][0] * 1e6) if 1 in results else float("nan")
        print(
            f"{n:>5} {fast:>12,.0f} {step_us:>9,.0f} {relative:>7.2f} {slow:>12,.0f} {ratio:>8.1f}",
            flush=True,
        )
    if 64 in results and results[64][1] == results[64][1]:
        ratio = results[64][0] / results[64][1]
        verdict = "PASS" if ratio >= 30 else "FAIL"
        print(f"N=64 native/sync = {ratio:.1f}x (target >= 30x): {verdict}")
        if 1 in results:
            # N envs in one batched step vs N single steps: the ratio is about N / (x N=1)
            relative = results[1][0] / results[64][0] * 64
            print(
                f"  a batched step of 64 envs costs {relative:.2f} single-env steps; "
                f"30x needs at most {64 / 30:.2f}"
            )
    if 256 in results:
        rate = results[256][0]
        print(
            f"N=256 native = {rate:,.0f} steps/s (target >= 50,000): "
            f"{'PASS' if rate >= 50_000 else 'FAIL'}"
        )


if __name__ == "__main__":
    main()
