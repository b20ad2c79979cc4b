"""Rendering: a text view of one env, and a timeline picture of what each instance ran."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pecgym.envs.core import SchedCore

_TIMELINE_SEGMENTS = 4000
RENDER_MODES = ("ansi", "rgb_array")


def check_render_mode(render_mode: str | None) -> str | None:
    """``render_mode`` if pecgym can render it, else a ValueError naming the choices."""
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be one of {list(RENDER_MODES)}, got {render_mode!r}")
    return render_mode


def render(core: SchedCore, render_mode: str | None):
    """What ``env.render()`` returns: text or a timeline image of env 0 (None before reset)."""
    if core.sim is None or render_mode is None:
        return None
    return render_text(core, 0) if render_mode == "ansi" else render_rgb(core)


def render_text(core: SchedCore, env: int = 0) -> str:
    """The cluster state of env ``env`` as text: queue, then one line per instance."""
    sim = core.sim
    counts = sim.state_counts(env)
    used = sim.kv_used()[env] / sim.kv_capacity
    batch, _, _ = sim.instance_load()
    lines = [
        f"t={sim.read('clock')[env]:9.3f}s  step={core.steps[env]}  "
        + "  ".join(f"{name}={counts[name]}" for name in ("waiting", "preempted", "done")),
    ]
    queue = core.queue_slots[env]
    shown = [
        f"r{r}({'L' if sim.read('is_long')[env, r] else 'S'},{sim.read('prefill_len')[env, r]})"
        for r in list(dict.fromkeys(queue[queue >= 0].tolist()))[:8]  # once, across views
    ]
    lines.append("queue: " + (" ".join(shown) if shown else "-"))
    for i in range(sim.num_instances):
        req = sim.read("prefill_req")[env, i]
        if req >= 0:
            kind = "long" if sim.read("is_long")[env, req] else "short"
            prefill = (
                f"prefill r{req:<6d} {kind:5s} {100 * sim.read('prefill_done')[env, req]:5.1f}%"
            )
        else:
            prefill = "prefill -" + " " * 21
        lines.append(
            f"i{i:02d} {prefill} | decode batch {int(batch[env, i]):3d} | kv {100 * used[i]:5.1f}%"
        )
    return "\n".join(lines)


def render_rgb(core: SchedCore, width: int = 900, height: int | None = None) -> np.ndarray:
    """A timeline of env 0: per instance, prefills (short blue, long red) and decode load."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sim = core.sim
    num = sim.num_instances
    height = height or max(240, 40 + 18 * num)
    dpi = 100
    fig, ax = plt.subplots(figsize=(width / dpi, height / dpi), dpi=dpi)
    segments = (sim.timeline or [])[-_TIMELINE_SEGMENTS:]
    if segments:
        t0 = np.array([s[0] for s in segments])
        t1 = np.array([s[1] for s in segments])
        prefill = np.stack([s[2] for s in segments])
        batch = np.stack([s[3] for s in segments])
        env = sim.timeline_env
        long_ = np.where(prefill >= 0, sim.read("is_long")[env, np.maximum(prefill, 0)], False)
        peak = max(float(batch.max()), 1.0)
        for i in range(num):
            for mask, color in (
                ((prefill[:, i] >= 0) & ~long_[:, i], "tab:blue"),
                (
                    long_[:, i],
                    "tab:red",
                ),
            ):
                spans = list(zip(t0[mask], (t1 - t0)[mask], strict=True))
                ax.broken_barh(spans, (i - 0.4, 0.4), color=color)
            busy = batch[:, i] > 0
            spans = list(zip(t0[busy], (t1 - t0)[busy], strict=True))
            alpha = np.clip(0.2 + 0.8 * batch[busy, i] / peak, 0, 1)
            colors = [(0.17, 0.63, 0.17, a) for a in alpha]
            ax.broken_barh(spans, (i, 0.4), facecolors=colors)
        ax.set_xlim(t0[0], t1[-1])
    ax.set_ylim(-0.6, num - 0.4)
    ax.set_yticks(range(num))
    ax.set_yticklabels([f"i{i}" for i in range(num)], fontsize=7)
    ax.set_xlabel("simulated time (s)")
    ax.set_title(
        f"t={sim.read('clock')[0]:.1f}s  prefill: short (blue) / long (red); decode batch (green)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


__all__ = ["render_rgb", "render_text"]
