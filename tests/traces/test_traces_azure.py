"""Loading Azure trace CSVs: the real 2023 file, both timestamp formats, and bad files."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest

from pecgym.traces import UnsortedTraceWarning, WorkloadError, load_azure_csv

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_real_conversation_trace(conv_trace_path: Path) -> None:
    w = load_azure_csv(conv_trace_path)
    assert len(w) == 19_366
    assert w.name == "AzureLLMInferenceTrace_conv"
    assert w.arrival[0] == 0.0
    assert w.duration == pytest.approx(3501.7, abs=0.05)
    assert w.arrival.dtype == np.float64
    assert np.all(np.diff(w.arrival) >= 0)
    assert np.percentile(w.input_tokens, 50) == 1020
    assert np.percentile(w.input_tokens, 99) == pytest.approx(4142, abs=1)
    assert w.input_tokens.max() == 14050
    assert w.output_tokens.mean() == pytest.approx(211, abs=0.5)
    # The 7-digit fraction of the first rows survives: 18:15:50.9951690 - 18:15:46.6805900.
    assert w.arrival[1] == pytest.approx(4.314579, abs=1e-7)
    assert w.meta["start_time"].startswith("2023-11-16T18:15:46.68059")


def test_seven_digit_fractions_parse_exactly(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "2023-11-16 18:17:03.9799600,10,5\n2023-11-16 18:17:04.0000001,20,6\n",
    )
    w = load_azure_csv(path, name="tiny")
    assert w.name == "tiny"
    assert w.arrival[1] == pytest.approx(0.0200401, abs=1e-9)


def test_2024_format_with_and_without_fractions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2024-05-10 00:00:00.009930+00:00,100,10\n"
        + "2024-05-10 00:00:01+00:00,200,20\n"
        + "2024-05-10 00:00:02.5+00:00,300,30\n",
    )
    w = load_azure_csv(path)
    np.testing.assert_allclose(w.arrival, [0.0, 0.99007, 2.49007], atol=1e-9)
    np.testing.assert_array_equal(w.input_tokens, [100, 200, 300])
    np.testing.assert_array_equal(w.output_tokens, [10, 20, 30])


def test_2024_format_without_any_fraction(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER + "2024-05-10 00:00:00+00:00,1,1\n2024-05-10 00:01:00+00:00,2,2\n"
    )
    np.testing.assert_array_equal(load_azure_csv(path).arrival, [0.0, 60.0])


def test_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(HEADER + "2024-05-10 00:00:00+00:00,7,3\n2024-05-10 00:00:02+00:00,8,4\n")
    w = load_azure_csv(path)
    assert w.name == "trace"
    np.testing.assert_array_equal(w.arrival, [0.0, 2.0])


def test_unsorted_rows_are_sorted_with_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2024-05-10 00:00:05+00:00,50,1\n"
        + "2024-05-10 00:00:01+00:00,10,1\n"
        + "2024-05-10 00:00:03+00:00,30,1\n"
        + "2024-05-10 00:00:01+00:00,11,1\n"
        + "2024-05-10 00:00:04+00:00,40,1\n",
    )
    with pytest.warns(UnsortedTraceWarning, match=r"trace\.csv: 2 of 5 rows") as record:
        w = load_azure_csv(path)
    assert "sorted all 5" in str(record[0].message)
    assert len(w) == 5
    np.testing.assert_array_equal(w.arrival, [0, 0, 2, 3, 4])
    # Stable: the two rows at 00:00:01 keep their file order.
    np.testing.assert_array_equal(w.input_tokens, [10, 11, 30, 40, 50])


def test_sorted_file_gives_no_warning(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2024-05-10 00:00:00+00:00,1,1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_azure_csv(path)) == 1


def test_trailing_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2024-05-10 00:00:00+00:00,1,1\n\n\n")
    assert len(load_azure_csv(path)) == 1


GOOD = "2024-05-10 00:00:00+00:00,10,5\n"


@pytest.mark.parametrize(
    ("body", "row", "problem"),
    [
        (GOOD + "2024-05-10 00:00:01+00:00,abc,5\n", 2, "ContextTokens is not a number: 'abc'"),
        (GOOD + GOOD + "2024-05-10 00:00:01+00:00,10,0\n", 3, "GeneratedTokens must be a positive"),
        (GOOD + "2024-05-10 00:00:01+00:00,-4,5\n", 2, "ContextTokens must be a positive"),
        (GOOD + "2024-05-10 00:00:01+00:00,,5\n", 2, "ContextTokens is empty or NaN"),
        (GOOD + "2024-05-10 00:00:01+00:00,10,NaN\n", 2, "GeneratedTokens is empty or NaN"),
        (GOOD + "2024-05-10 00:00:01+00:00,10.5,5\n", 2, "ContextTokens is not a whole number"),
        (GOOD + "yesterday,10,5\n", 2, "TIMESTAMP 'yesterday' is not a valid timestamp"),
        (GOOD + ",10,5\n", 2, "TIMESTAMP is empty"),
        (GOOD + "\n" + GOOD, 2, "the row is empty"),
    ],
)
def test_bad_rows_name_file_row_and_problem(
    tmp_path: Path, body: str, row: int, problem: str
) -> None:
    path = write(tmp_path, HEADER + body)
    with pytest.raises(WorkloadError) as caught:
        load_azure_csv(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"data row {row} (file line {row + 1})" in message
    assert problem in message


def test_first_of_several_bad_rows_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + GOOD + "x,1,1\n" + GOOD + "2024-05-10 00:00:01+00:00,0,1\n")
    with pytest.raises(WorkloadError, match=r"data row 2 .*2 bad rows in all"):
        load_azure_csv(path)


def test_missing_column_is_named_and_columns_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "TIMESTAMP,Context,GeneratedTokens\n2024-05-10 00:00:00,1,1\n")
    with pytest.raises(WorkloadError) as caught:
        load_azure_csv(path)
    message = str(caught.value)
    assert str(path) in message
    assert "missing column 'ContextTokens'" in message
    assert "'TIMESTAMP', 'Context', 'GeneratedTokens'" in message


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(WorkloadError, match=r"trace\.csv: the file is empty"):
        load_azure_csv(path)


def test_header_only(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER)
    with pytest.raises(WorkloadError, match=r"trace\.csv: the file has a header but no data"):
        load_azure_csv(path)


def test_ragged_row(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + GOOD + "2024-05-10 00:00:01+00:00,1,2,3\n")
    with pytest.raises(WorkloadError, match=r"trace\.csv: cannot parse the CSV .*line 3"):
        load_azure_csv(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_azure_csv(tmp_path / "nope.csv")
