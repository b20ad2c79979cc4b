"""``pecgym leaderboard``: the quick v1 suite end to end, resuming, replaying bit for bit,
statistics, parallel and Ray backends, submissions, and bad inputs before any work."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pecgym.benchmark.leaderboard import SUITES, run_leaderboard
from pecgym.benchmark.leaderboard import runner as runner_module
from pecgym.benchmark.leaderboard.ranking import (
    ALL,
    iqm,
    probability_of_improvement,
    stratified_interval,
    summarize,
)
from pecgym.benchmark.leaderboard.records import COLUMNS, EpisodeLog
from pecgym.benchmark.leaderboard.replay import replay
from pecgym.benchmark.leaderboard.submission import init_submission, load_submission
from pecgym.benchmark.leaderboard.suite import Suite
from pecgym.cli import main

TINY = Suite(
    "tiny",
    ("pecgym/ConvBusy-v1", "pecgym/LSMix-v1"),
    seeds=3,
    quick_seeds=3,
    quick_workload={"*": {"num_requests": 16}},
)


@pytest.fixture(scope="module", autouse=True)
def tiny_suite():
    """A two-scenario suite of 16 requests and 3 seeds, for the fast checks."""
    SUITES[TINY.name] = TINY
    yield TINY
    del SUITES[TINY.name]


def tiny(out: Path, policies=("fifo", "sjf"), **options):
    options.setdefault("progress", False)
    options.setdefault("reps", 200)
    return run_leaderboard("tiny", list(policies), out=out, quick=True, **options)


@pytest.fixture(scope="module")
def quick_board(tmp_path_factory) -> Path:
    """The quick v1 suite for FIFO and SJF (random is added), run through the CLI."""
    out = tmp_path_factory.mktemp("board")
    argv = ["leaderboard", "--quick", "--policies", "fifo,sjf", "--out", str(out)]
    assert main([*argv, "--workers", "2", "--reps", "300", "--quiet"]) == 0
    return out


def test_quick_suite_writes_every_output(quick_board: Path, capsys) -> None:
    episodes = pd.read_csv(quick_board / "episodes.csv")
    assert list(episodes.columns) == list(COLUMNS)
    scenarios = {"ConvBusy-v1", "LongMix-v1", "CodeBursty-v1", "LSMix-v1"}
    assert set(episodes["scenario"]) == scenarios
    assert len(episodes) == 3 * 4 * 3  # policies x scenarios x seeds
    assert (episodes.groupby(["policy", "scenario"]).size() == 3).all()
    assert (episodes["suite"] == "v1-quick").all()
    assert (episodes["seed"] >= 1_000_000).all()  # held-out test seeds
    assert (episodes["completed"] == episodes["requests"]).all()
    assert episodes["config_digest"].notna().all() and (episodes["wall_time_s"] > 0).all()
    for digest in episodes["config_digest"].unique():
        assert (quick_board / "configs" / f"{digest}.json").exists()
    summary = pd.read_csv(quick_board / "summary.csv")
    assert set(summary["scenario"]) == scenarios | {ALL}
    per = summary[summary.scenario != ALL]
    assert (per["objective_ci_low"] <= per["objective_iqm"] + 1e-12).all()
    assert (per["objective_iqm"] <= per["objective_ci_high"] + 1e-12).all()
    fifo = per[per.policy == "fifo"]
    assert (fifo["prob_improvement_fifo"] == 0.5).all()
    assert np.allclose(per.loc[per.policy == "random", "normalized_iqm"], 0.0, atol=1e-9)
    best = per.groupby("scenario")["normalized_iqm"].max()  # the best heuristic scores 1
    assert np.allclose(best.to_numpy(), 1.0)
    text = (quick_board / "leaderboard.md").read_text()
    assert "normalized IQM [95% CI]" in text and "best heuristic" in text
    for plot in ("intervals.png", "performance_profile.png"):
        assert (quick_board / plot).read_bytes()[:4] == b"\x89PNG"


def test_tensorboard_holds_a_run_per_policy_with_the_summary(quick_board: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = sorted(p.name for p in (quick_board / "tensorboard").iterdir())
    assert runs == ["fifo", "random", "sjf"]
    events = EventAccumulator(str(quick_board / "tensorboard" / "sjf")).Reload()
    summary = pd.read_csv(quick_board / "summary.csv").set_index(["policy", "scenario"])
    value = events.Scalars("leaderboard/LongMix-v1/objective_iqm")[0].value
    assert value == pytest.approx(summary.loc[("sjf", "LongMix-v1"), "objective_iqm"], rel=1e-6)
    assert "leaderboard/all/normalized_iqm" in events.Tags()["scalars"]


def test_a_rerun_resumes_and_runs_nothing(quick_board: Path, capsys) -> None:
    before = (quick_board / "episodes.csv").read_bytes()
    argv = ["leaderboard", "--quick", "--policies", "fifo,sjf", "--out", str(quick_board)]
    assert main([*argv, "--reps", "300", "--quiet"]) == 0
    assert (quick_board / "episodes.csv").read_bytes() == before
    assert "sjf" in capsys.readouterr().out


@pytest.mark.parametrize("policy", ["random", "fifo", "sjf"])
def test_a_recorded_row_replays_bit_for_bit(quick_board: Path, policy: str) -> None:
    episodes = pd.read_csv(quick_board / "episodes.csv")
    row = int(np.flatnonzero((episodes.policy == policy) & (episodes.seed == 1_000_001))[-1])
    result = replay(quick_board, row)
    assert result.mismatches == []
    assert len(result.compared) > 25


def test_replay_reports_a_tampered_record(quick_board: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(quick_board, copy)
    frame = pd.read_csv(copy / "episodes.csv", dtype=str, keep_default_na=False)
    frame.loc[4, "objective"] = str(float(frame.loc[4, "objective"]) + 1e-12)
    frame.to_csv(copy / "episodes.csv", index=False)
    assert main(["leaderboard", "replay", "--row", "4", str(copy)]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_an_interrupted_run_keeps_finished_episodes_and_resumes(tmp_path, monkeypatch) -> None:
    clean = tiny(tmp_path / "clean").episodes
    real = runner_module.rollout

    def interrupted(*args, on_episode, **kwargs):
        def save_then_stop(record):
            on_episode(record)
            raise KeyboardInterrupt

        return real(*args, on_episode=save_then_stop, **kwargs)

    monkeypatch.setattr(runner_module, "rollout", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tiny(tmp_path / "cut")
    assert len(EpisodeLog(tmp_path / "cut").load()) == 1
    assert (tmp_path / "cut" / "summary.csv").exists()  # outputs of what finished
    monkeypatch.setattr(runner_module, "rollout", real)
    resumed = tiny(tmp_path / "cut")
    assert resumed.recorded == len(clean) - 1
    key = ["scenario", "policy", "seed"]
    a = clean.sort_values(key).reset_index(drop=True)
    b = resumed.episodes.sort_values(key).reset_index(drop=True)
    assert a[[*key, "objective", "steps"]].equals(b[[*key, "objective", "steps"]])


def test_workers_and_one_seed_jobs_record_the_same_episodes(tmp_path: Path) -> None:
    key = ["scenario", "policy", "seed"]
    runs = [
        tiny(tmp_path / "a").episodes,
        tiny(tmp_path / "b", workers=2).episodes,
        tiny(tmp_path / "c", batch=False).episodes,
    ]
    a, b, c = (
        r.sort_values(key)[[*key, "objective", "steps"]].reset_index(drop=True) for r in runs
    )
    assert a.equals(b) and a.equals(c)
    assert (runs[2]["batch_size"] == 1).all() and (runs[0]["batch_size"] == 3).all()


def test_ray_backend_records_the_same_episodes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = tiny(tmp_path / "ray", policies=("fifo",), use_ray=True).episodes
    finally:
        ray.shutdown()
    here = tiny(tmp_path / "here", policies=("fifo",)).episodes
    key = ["scenario", "policy", "seed"]
    a, b = (r.sort_values(key)[[*key, "objective"]].reset_index(drop=True) for r in (here, on_ray))
    assert a.equals(b)


def test_same_records_same_summary_and_statistics_behave() -> None:
    assert iqm(np.array([0.0, 1, 2, 3, 100, -100, 4, 5])) == pytest.approx(2.5)
    better, worse = np.array([1.0, 2, 3]), np.array([4.0, 5, 6])
    assert probability_of_improvement(better, worse) == 1.0
    assert probability_of_improvement(worse, better) == 0.0
    assert probability_of_improvement(better, better) == 0.5
    rng = np.random.default_rng(0)
    strata = [rng.normal(size=10), rng.normal(2, size=10)]
    low, high = stratified_interval(strata, reps=500, seed=3)
    assert (low, high) == stratified_interval(strata, reps=500, seed=3)
    assert low < iqm(np.concatenate(strata)) < high
    assert np.isnan(stratified_interval([np.array([1.0])])[0])


def test_summary_ranks_on_the_normalised_scale() -> None:
    rows = []
    for seed in range(4):
        for policy, spec, objective in (
            ("random", "random", 4.0),
            ("fifo", "fifo", 3.0),
            ("sjf", "sjf", 2.0),
            ("agent:x", "agent:/x.zip", 1.5),
        ):
            rows.append(
                {"policy": policy, "policy_spec": spec, "scenario": "S", "seed": seed,
                 "objective": objective + 0.01 * seed, "objective_name": "slowdown",
                 "completed": 10, "requests": 10, "step_capped": False, "invalid_actions": 0}
            )  # fmt: skip
    summary = summarize(pd.DataFrame(rows), reps=200)
    overall = summary[summary.scenario == ALL].set_index("policy")
    assert list(overall.sort_values("rank").index) == ["agent:x", "sjf", "fifo", "random"]
    assert overall.loc["sjf", "normalized_iqm"] == pytest.approx(1.0)
    assert overall.loc["fifo", "normalized_iqm"] == pytest.approx(0.5)
    assert overall.loc["agent:x", "normalized_iqm"] == pytest.approx(1.25)
    assert overall.loc["agent:x", "kind"] == "agent"


def test_a_submission_is_checked_and_evaluated_where_it_fits(tmp_path: Path) -> None:
    folder = init_submission("conv-busy", tmp_path / "sub", "my-agent")
    card = load_submission(folder).card
    assert card["name"] == "my-agent" and card["budget"]["timesteps"] == 200_000
    assert card["env_modified"] is False and card["deterministic"] is True
    board = tiny(tmp_path / "out", policies=(load_submission(folder).entry(),))
    mine = board.episodes[board.episodes.policy == "my-agent"]
    assert set(mine["scenario"]) == {"ConvBusy-v1"}  # its spaces fit only ConvBusy
    assert len(mine) == 3 and (mine["completed"] == mine["requests"]).all()
    row = int(np.flatnonzero(board.episodes.policy == "my-agent")[0])
    assert replay(tmp_path / "out", row).mismatches == []
    readme = folder / "README.md"
    readme.write_text(readme.read_text().replace("env_modified: false", "env_modified: maybe"))
    with pytest.raises(ValueError, match="'env_modified' must be a bool"):
        load_submission(folder)


def test_bad_inputs_fail_before_any_work(tmp_path: Path, capsys) -> None:
    not_agent = tmp_path / "agent.zip"
    not_agent.write_bytes(b"not a zip")
    a_file = tmp_path / "file"
    a_file.write_text("")
    cases = [
        (["--policies", "nosuch"], "unknown policy 'nosuch'"),
        (["--policies", f"agent:{not_agent}"], "is not a saved stable-baselines3 agent"),
        (["--policies", ","], "names no policy"),
        (["--out", str(a_file)], "is a file, not a folder"),
        (["--out", str(a_file / "sub")], "cannot write"),
        (["--submission", str(tmp_path)], "has no training.yaml"),
        (["--trace", str(tmp_path / "missing.csv")], "is not a file"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--reps", "5"], "--reps must be at least 100"),
    ]
    for extra, message in cases:
        assert main(["leaderboard", "--quick", "--out", str(tmp_path / "o"), *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "episodes.csv").exists()


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("config_digest", "0123456789ab", "a different config"),
        ("pecgym_version", "0.0.1", "another pecgym version"),
    ],
)
def test_a_folder_of_another_config_or_version_is_refused(
    tmp_path: Path, column: str, value: str, what: str
) -> None:
    tiny(tmp_path, policies=("fifo",))
    log = pd.read_csv(tmp_path / "episodes.csv", dtype=str, keep_default_na=False)
    log[column] = value
    log.to_csv(tmp_path / "episodes.csv", index=False)
    with pytest.raises(ValueError, match=f"{what}.*use a new --out folder"):
        tiny(tmp_path, policies=("fifo",))


def test_the_summary_does_not_depend_on_the_order_records_arrived(tmp_path: Path) -> None:
    from pecgym.benchmark.leaderboard import write_outputs

    first = tiny(tmp_path, reps=300).summary
    log = pd.read_csv(tmp_path / "episodes.csv", dtype=str, keep_default_na=False)
    log.sample(frac=1.0, random_state=1).to_csv(tmp_path / "episodes.csv", index=False)
    again = write_outputs(tmp_path, "tiny-quick", reps=300).summary
    pd.testing.assert_frame_equal(first, again)
    assert list(dict.fromkeys(first["scenario"])) == ["ConvBusy-v1", "LSMix-v1", ALL]


def test_the_suite_runs_on_a_users_trace(tmp_path: Path, conv_trace_path: Path) -> None:
    board = tiny(tmp_path, policies=("fifo",), trace=conv_trace_path)
    assert (board.episodes["workload_source"] == str(conv_trace_path)).all()
    assert (board.episodes["completed"] == board.episodes["requests"]).all()
    synthetic = tiny(tmp_path / "synthetic", policies=("fifo",)).episodes
    assert set(board.episodes["config_digest"]).isdisjoint(synthetic["config_digest"])
