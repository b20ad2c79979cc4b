"""Load the Azure LLM inference traces (Azure/AzurePublicDataset) into a :class:`Workload`.

The files have the columns ``TIMESTAMP,ContextTokens,GeneratedTokens``. The 2023 traces write
timestamps like ``2023-11-16 18:17:03.9799600`` (seven fractional digits), the 2024 week-long
traces like ``2024-05-10 00:00:00.009930+00:00`` (some without a fraction). Both are parsed by
pandas' vectorised ISO 8601 parser; naive times are taken as UTC. Gzip-compressed files
(``.csv.gz``) are read directly.
"""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from pecgym.traces.workload import Workload, WorkloadError

TIMESTAMP_COLUMN = "TIMESTAMP"
INPUT_COLUMN = "ContextTokens"
OUTPUT_COLUMN = "GeneratedTokens"
REQUIRED_COLUMNS = (TIMESTAMP_COLUMN, INPUT_COLUMN, OUTPUT_COLUMN)

_TIMESTAMP_EXAMPLES = "'2023-11-16 18:17:03.9799600' or '2024-05-10 00:00:00.009930+00:00'"


class UnsortedTraceWarning(UserWarning):
    """A trace file's rows were not in arrival order and have been sorted."""


def _trace_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".bz2", ".xz", ".zip", ".csv"):
        name = name.removesuffix(suffix)
    return name or path.name


def _find_columns(path: Path, found: list[str]) -> dict[str, str]:
    """Map each required column to its header name (whitespace and case are forgiven)."""
    by_key = {str(col).strip().casefold(): str(col) for col in found}
    columns = {}
    for required in REQUIRED_COLUMNS:
        actual = by_key.get(required.casefold())
        if actual is None:
            listed = ", ".join(repr(str(col)) for col in found) or "none"
            raise WorkloadError(
                f"{path}: missing column {required!r} (the header, file line 1, has columns: "
                f"{listed}; expected {', '.join(REQUIRED_COLUMNS)})"
            )
        columns[required] = actual
    return columns


def _token_column(raw: pd.Series, label: str) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    """The column as numbers, and ``(bad-row mask, problem template)`` pairs (``{v}``: value)."""
    if pd.api.types.is_integer_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.int64)
        return values, [(values <= 0, f"{label} must be a positive token count, got {{v}}")]
    if pd.api.types.is_numeric_dtype(raw.dtype):
        number = raw.to_numpy(dtype=np.float64)
        empty = np.isnan(number)
    else:
        text = raw.astype("string").str.strip()
        empty = (raw.isna() | (text == "")).to_numpy(dtype=bool)
        number = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        non_numeric = ~empty & ~np.isfinite(number)
        valid = ~empty & ~non_numeric
        fractional = valid & (number != np.floor(number))
        non_positive = valid & ~fractional & (number <= 0)
    return number, [
        (empty, f"{label} is empty or NaN"),
        (non_numeric, f"{label} is not a number: {{v!r}}"),
        (fractional, f"{label} is not a whole number of tokens: {{v!r}}"),
        (non_positive, f"{label} must be a positive token count, got {{v!r}}"),
    ]


def _raise_first_problem(
    path: Path, frame: pd.DataFrame, problems: list[tuple[np.ndarray, str, str]]
) -> None:
    """Raise one WorkloadError for the earliest bad row, if any row is bad."""
    any_bad = np.zeros(len(frame), dtype=bool)
    first: tuple[int, str, str] | None = None
    for mask, template, column in problems:
        if not mask.any():
            continue
        any_bad |= mask
        row = int(np.argmax(mask))
        if first is None or row < first[0]:
            first = (row, template, column)
    if first is None:
        return
    row, template, column = first
    value = frame[column].iloc[row]
    total = int(any_bad.sum())
    more = f" ({total} bad rows in all; this is the first)" if total > 1 else ""
    raise WorkloadError(
        f"{path}: data row {row + 1} (file line {row + 2}): "
        f"{template.format(v=value if isinstance(value, str) else str(value))}{more}"
    )


def load_azure_csv(path: str | PathLike[str], *, name: str | None = None) -> Workload:
    """Read an Azure LLM inference trace CSV (2023 or 2024 format, optionally gzip-compressed).

    Arrival times are seconds after the first request. Rows out of time order are sorted
    (stably) with an :class:`UnsortedTraceWarning`; no row is ever dropped. Any bad value raises
    a :class:`WorkloadError` naming the file, the first bad row and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such trace file")
    try:
        header = pd.read_csv(path, nrows=0)
    except pd.errors.EmptyDataError:
        raise WorkloadError(
            f"{path}: the file is empty (expected a header line with columns "
            f"{', '.join(REQUIRED_COLUMNS)})"
        ) from None
    except (UnicodeDecodeError, OSError, EOFError) as error:
        raise WorkloadError(f"{path}: cannot read the file as CSV text ({error})") from None
    columns = _find_columns(path, list(header.columns))
    ts_col, in_col, out_col = (columns[c] for c in REQUIRED_COLUMNS)
    try:
        frame = pd.read_csv(
            path,
            dtype={ts_col: str},
            skip_blank_lines=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as error:
        raise WorkloadError(f"{path}: cannot parse the CSV ({str(error).strip()})") from None
    frame = frame[[ts_col, in_col, out_col]]

    # Blank lines at the very end are harmless; blank lines elsewhere are reported as bad rows.
    filled = frame.notna().any(axis=1).to_numpy()
    if filled.any():
        frame = frame.iloc[: len(filled) - int(np.argmax(filled[::-1]))]
    else:
        frame = frame.iloc[:0]
    if len(frame) == 0:
        raise WorkloadError(f"{path}: the file has a header but no data rows")

    stamps = frame[ts_col]
    ts_empty = stamps.isna().to_numpy()
    parsed = pd.to_datetime(stamps, format="ISO8601", utc=True, errors="coerce")
    ts_bad = parsed.isna().to_numpy() & ~ts_empty
    problems = [
        (~frame.notna().any(axis=1).to_numpy(), "the row is empty (a blank line)", ts_col),
        (ts_empty, f"{TIMESTAMP_COLUMN} is empty", ts_col),
        (
            ts_bad,
            f"{TIMESTAMP_COLUMN} {{v!r}} is not a valid timestamp "
            f"(expected e.g. {_TIMESTAMP_EXAMPLES})",
            ts_col,
        ),
    ]
    tokens = []
    for label, col in ((INPUT_COLUMN, in_col), (OUTPUT_COLUMN, out_col)):
        values, column_problems = _token_column(frame[col], label)
        tokens.append(values)
        problems += [(mask, text, col) for mask, text in column_problems]
    _raise_first_problem(path, frame, problems)

    nanos = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
    inputs, outputs = (values.astype(np.int64) for values in tokens)
    n = nanos.shape[0]
    descents = int(np.count_nonzero(nanos[1:] < nanos[:-1]))
    if descents:
        order = np.argsort(nanos, kind="stable")
        nanos, inputs, outputs = nanos[order], inputs[order], outputs[order]
        warnings.warn(
            f"{path}: {descents} of {n} rows arrive earlier than the row before them; "
            f"sorted all {n} requests by {TIMESTAMP_COLUMN} (stable, nothing dropped)",
            UnsortedTraceWarning,
            stacklevel=2,
        )
    start = nanos[0]
    arrival = (nanos - start).astype(np.float64) / 1e9
    return Workload(
        arrival=arrival,
        input_tokens=inputs,
        output_tokens=outputs,
        name=name if name is not None else _trace_name(path),
        meta={
            "source": str(path),
            "start_time": pd.Timestamp(start, tz="UTC").isoformat(),
            "unsorted_rows": descents,
        },
    )
