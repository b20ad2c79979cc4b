"""``pecgym costmodel``: print cost-model figures, or compare it with vidur's profiles."""

from __future__ import annotations

import argparse
import json

from pecgym.sim.calibration import CALIBRATION_CASES, calibration_table, default_vidur_dir
from pecgym.sim.costmodel import SP_METHODS, CostModel
from pecgym.sim.hardware import GPUS, MODELS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``costmodel`` command."""
    parser = subparsers.add_parser(
        "costmodel",
        help="print prefill/decode times and KV capacity of one instance",
        description=(
            "Print the roofline cost model's prefill time, decode step time and KV capacity "
            "for one model instance. With --calibrate, print instead the comparison of the "
            "model's linear-layer time with vidur's A100 profiles (Llama-3-8B TP1 and "
            "Llama-3-70B TP4): tokens, vidur ms, model ms, error %%."
        ),
    )
    parser.add_argument(
        "--model", default="llama-3-8b", help=f"model ({', '.join(MODELS)}; default llama-3-8b)"
    )
    parser.add_argument("--gpu", default="a100", help=f"GPU ({', '.join(GPUS)}; default a100)")
    parser.add_argument("--tp", type=int, default=1, help="tensor-parallel degree (default 1)")
    parser.add_argument(
        "--prefill-tokens", type=int, default=2048, help="input tokens to prefill (default 2048)"
    )
    parser.add_argument(
        "--context", type=int, default=1024, help="KV tokens per decoding sequence (default 1024)"
    )
    parser.add_argument(
        "--decode-batch", type=int, default=32, help="sequences in the decode step (default 32)"
    )
    parser.add_argument(
        "--sp", type=int, default=1, help="sequence-parallel instances for the prefill (default 1)"
    )
    parser.add_argument(
        "--sp-method", choices=SP_METHODS, default="ulysses", help="default ulysses"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="print the vidur comparison table instead (ignores the other figures' options)",
    )
    parser.add_argument(
        "--vidur-dir",
        default=None,
        help="vidur profile directory for --calibrate (default $PECGYM_VIDUR_DIR or "
        "../shared/reference/vidur beside the project)",
    )
    parser.set_defaults(handler=_run)


def _figures(args: argparse.Namespace) -> dict[str, object]:
    for name in ("prefill_tokens", "context", "decode_batch"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0")
    if args.sp < 1:
        raise ValueError("--sp must be >= 1")
    cm = CostModel(args.model, args.gpu, args.tp)
    info = cm.describe()
    total_context = args.decode_batch * args.context
    decode = cm.decode_step_time(args.decode_batch, total_context)
    return {
        "model": info["model"],
        "gpu": info["gpu"],
        "tp": cm.tp,
        "prefill_tokens": args.prefill_tokens,
        "sp": args.sp,
        "sp_method": args.sp_method,
        "prefill_ms": cm.prefill_time(args.prefill_tokens, sp=args.sp, sp_method=args.sp_method)
        * 1e3,
        "decode_batch": args.decode_batch,
        "context_per_sequence": args.context,
        "decode_step_ms": decode * 1e3,
        "decode_tokens_per_s": args.decode_batch / decode if decode > 0 else 0.0,
        "kv_capacity_tokens": cm.kv_capacity_tokens,
        "kv_bytes_per_token": cm.kv_bytes_per_token,
        "weights_gb": info["weights_gb"],
        "kv_capacity_gb": info["kv_capacity_gb"],
        "overhead_ms": info["overhead_ms"],
    }


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _calibrate(args: argparse.Namespace) -> int:
    vidur_dir = args.vidur_dir or default_vidur_dir()
    tables = []
    for model, gpu, tp in CALIBRATION_CASES:
        table = calibration_table(vidur_dir, model, gpu, tp)
        table = table[(table["tokens"] >= 1) & (table["tokens"] <= 4096)]
        tables.append((model, gpu, tp, table))
    if args.json:
        out = [
            {"model": m, "gpu": g, "tp": tp, "rows": t.to_dict(orient="records")}
            for m, g, tp, t in tables
        ]
        print(json.dumps(out, indent=2))
        return 0
    for model, gpu, tp, table in tables:
        powers = table[(table["tokens"] & (table["tokens"] - 1)) == 0]
        inner = table[(table["tokens"] >= 128)]
        print(f"{model} on {gpu}, tp={tp} (linear layers summed over the model)")
        print(f"{'tokens':>8} {'vidur ms':>10} {'model ms':>10} {'error %':>8}")
        for row in powers.itertuples(index=False):
            print(
                f"{row.tokens:>8} {row.vidur_ms:>10.2f} {row.model_ms:>10.2f} "
                f"{row.error_pct:>+8.1f}"
            )
        print(
            f"all {len(inner)} rows with 128-4096 tokens: max |error| "
            f"{inner['error_pct'].abs().max():.1f}%, mean |error| "
            f"{inner['error_pct'].abs().mean():.1f}%\n"
        )
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.calibrate:
        return _calibrate(args)
    figures = _figures(args)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {_format_value(value)}")
    return 0
