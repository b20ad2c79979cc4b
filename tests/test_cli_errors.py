"""One error policy for the whole CLI: a user error is one line on stderr naming the option
and exit code 2, before any work; Ctrl-C exits 130; a closed pipe ends quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pecgym.cli import COMMAND_MODULES, main

TINY = ["--num-requests", "20", "--instances", "2"]


def bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    """(argv, what the error names) for every command; ``tmp`` holds a file and a folder."""
    a_file, a_dir = tmp / "file.txt", tmp / "folder"
    return [
        (["traces", "info", str(tmp / "missing.csv")], "not found"),
        (["costmodel", "--model", "gpt-9"], "unknown model"),
        (["simulate", *TINY, "--json", str(a_dir)], "--json"),
        (["simulate", *TINY, "--json", str(tmp / "no" / "x.json")], "does not exist"),
        (["simulate", *TINY, "--requests-csv", str(a_dir)], "--requests-csv"),
        (["simulate", "--policy", "nope", *TINY], "unknown policy"),
        (["compare", "--policies", "", *TINY, "--out", str(tmp / "o")], "names no policy"),
        (["compare", "--policies", "fifo", *TINY, "--out", str(a_file)], "--out"),
        (["compare", "--scenario", "Nope-v1", "--out", str(tmp / "o")], "unknown scenario"),
        (["train", "--env", "pecgym/Nope-v1"], "Nope"),
        (["train", "--env-kwargs", '{"nope": 1}'], "nope"),
        (["train", "--timesteps", "8", "--out", str(a_file)], "--out"),
        (["evaluate", "--agent", "nope"], "no agent"),
        (["evaluate", "--agent", str(a_file)], "not a saved stable-baselines3 agent"),
        (["evaluate", "--agent", "conv-busy", "--json", str(a_dir)], "--json"),
        (["leaderboard", "--policies", "nope", "--out", str(tmp / "o")], "unknown policy"),
        (["leaderboard", "--out", str(a_file)], "--out"),
        (["leaderboard", "replay", "--row", "0", str(a_dir)], "not a leaderboard folder"),
    ]


def test_every_command_refuses_bad_input_in_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "file.txt").write_text("not a model")
    (tmp_path / "folder").mkdir()
    cases = bad_inputs(tmp_path)
    assert {argv[0] for argv, _ in cases} == set(COMMAND_MODULES)  # every command is tried
    for argv, named in cases:
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.err.startswith(f"pecgym {argv[0]}: error:"), argv
        assert named in captured.err and captured.err.count("\n") == 1, (argv, captured.err)
        assert captured.out == "", argv  # refused before any work printed anything
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder"]


def test_a_missing_pecgym_trace_is_an_error(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("PECGYM_TRACE", str(tmp_path / "missing.csv"))
    assert main(["compare", "--scenario", "pecsched-small", "--out", str(tmp_path / "o")]) == 2
    assert "PECGYM_TRACE" in capsys.readouterr().err


def test_ctrl_c_exits_130_without_a_traceback(monkeypatch, tmp_path: Path, capsys) -> None:
    from pecgym.commands import compare

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_evaluation", interrupted)
    assert main(["compare", "--policies", "fifo", *TINY, "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "pecgym compare: interrupted\n"


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    command = [sys.executable, "-m", "pecgym.cli", "simulate", *TINY, "--quiet"]
    shell = " ".join(command) + " | head -n 1"
    done = subprocess.run(shell, shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
