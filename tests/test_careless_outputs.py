"""What a careless user breaks (issue 25): outputs are claimed before work starts, and
``--overwrite`` deletes only what relcon wrote.

Two runs writing one output at once, a read-only or impossible ``--out`` (refused before any
model is loaded or anything computed), lock files left behind, ``--overwrite`` emptying a folder
that held the user's own files, a reused report folder, the run record where Arrow's schema
readers look, the ``window_index`` column, the ``--skip-bad`` hint only where it helps, progress
that fits a log. Synthetic recordings in tmp_path and a tiny random encoder: a few seconds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relcon import cli
from relcon.apps.batch import WindowFunction, read_metadata
from relcon.apps.embed import embed_recordings
from relcon.eval.builtin import build_tasks
from relcon.eval.results import write_results
from relcon.io import (
    LOCK_FILE,
    OutputInUse,
    claim_output,
    claim_outputs,
    claim_path,
    clear_outputs,
    lock_folder,
)
from relcon.models.encoder import ModelOutputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
pq = pytest.importorskip("pyarrow.parquet")
fcntl = pytest.importorskip("fcntl")

ROOT = os.geteuid() == 0


def _csv(path: Path, seconds: float = 60, fs: int = 100, seed: int = 0) -> Path:
    t = np.arange(int(seconds * fs)) / fs
    rng = np.random.default_rng(seed)
    x = np.stack([0.3 * np.sin(2 * np.pi * 1.3 * t), 0.2 * np.cos(2 * np.pi * 0.7 * t),
                  1.0 + 0.05 * rng.standard_normal(len(t))], axis=1)  # fmt: skip
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(path, index=False)
    return path


def _embed_argv(rec: Path, out: Path, encoder_dir: Path, *extra: str) -> list[str]:
    return ["embed", str(rec), "--out", str(out), "--model", str(encoder_dir), "--device", "cpu",
            "--keep-nonwear", "--no-progress", *extra]  # fmt: skip


def _hold(path: Path) -> int:
    """Hold the claim file ``path`` the way another relcon process does (its own open file
    description, an exclusive flock, its pid and host inside); returns the descriptor."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"4242 {socket.gethostname()}\n".encode())
    return fd


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test: whatever is refused must be refused before."""

    def fail(*a, **k):
        raise AssertionError("the model was loaded before the output was claimed")

    monkeypatch.setattr("relcon.apps.embed.load_encoder", fail)


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permissions: then a path
    whose parent is a regular file)."""
    if ROOT:
        (tmp_path / "a_file").write_text("not a folder")
        return tmp_path / "a_file" / "sub"
    ro = tmp_path / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    return ro


# --------------------------------------------------------------------------------------------
# 1. two runs writing one output at once
# --------------------------------------------------------------------------------------------
def test_second_embed_into_a_claimed_out_is_refused_before_the_model_loads(
    tmp_path, encoder_dir, capsys, no_model
):
    rec = _csv(tmp_path / "rec.csv")
    out = tmp_path / "emb.parquet"
    fd = _hold(claim_path(out))
    try:
        assert cli.main(_embed_argv(rec, out, encoder_dir)) == 2
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert err.startswith(f"relcon: error: {out} is being written by another relcon process")
    assert "pid 4242" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_claim_is_released_and_its_file_removed_however_the_run_ends(tmp_path, encoder_dir):
    rec = _csv(tmp_path / "rec.csv")
    out = tmp_path / "emb.parquet"
    embed_recordings(rec, encoder_dir, out, device="cpu", progress=False, drop_nonwear=False)
    assert out.is_file() and not claim_path(out).exists()
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), claim_output(tmp_path / "x.csv"):
            assert claim_path(tmp_path / "x.csv").exists()
            raise exc
        assert not claim_path(tmp_path / "x.csv").exists()
    with pytest.raises(FileExistsError, match="already exists; pass --overwrite"):
        with claim_output(out):
            pass
    assert not claim_path(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.parquet", "rec.csv"]


HOLD_CLAIM = """
import sys, time
from relcon.io import claim_output
with claim_output(sys.argv[1]):
    print("claimed", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_leaves_no_claim_that_blocks(tmp_path):
    out = tmp_path / "tasks" / "wisdm_har6.npz"  # also what `relcon tasks build` would write
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_CLAIM, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with pytest.raises(OutputInUse, match=rf"{out.name} is being written .*pid {holder.pid}"):
            with claim_outputs([tmp_path / "tasks" / "b.npz", out]):
                pass
        assert not claim_path(tmp_path / "tasks" / "b.npz").exists()  # all or none
        with pytest.raises(OutputInUse, match=rf"{out.name} is being written .*pid {holder.pid}"):
            build_tasks(tmp_path / "no-data", out.parent, ["wisdm_har6"], progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert claim_path(out).exists()  # kill -9 left the file, not the lock
    with claim_outputs([out, tmp_path / "tasks" / "b.npz"]) as paths:
        assert paths[0] == out
    assert not list((tmp_path / "tasks").iterdir())


# --------------------------------------------------------------------------------------------
# 9. an output that cannot be written fails before any work, naming it
# --------------------------------------------------------------------------------------------
def test_unwritable_embed_out_fails_before_the_model_loads(tmp_path, encoder_dir, capsys, no_model):
    rec = _csv(tmp_path / "rec.csv")
    out = _unwritable(tmp_path) / "emb.parquet"
    assert cli.main(_embed_argv(rec, out, encoder_dir)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"relcon: error: {out}: cannot write this output")


def test_unwritable_diagnose_json_fails_before_the_computation(tmp_path, monkeypatch, capsys):
    def fail(*a, **k):
        raise AssertionError("diagnostics computed before the output was claimed")

    monkeypatch.setattr("relcon.train.diagnose.diagnose_distance", fail)
    out = _unwritable(tmp_path) / "diag.json"
    argv = [
        "diagnose",
        "distance",
        "default",
        "--task",
        str(tmp_path / "t.npz"),
        "--json",
        str(out),
    ]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith(f"relcon: error: {out}: cannot write this output")


def test_diagnose_json_claimed_by_another_run_is_refused_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("relcon.train.diagnose.diagnose_distance", lambda cfg: 1 / 0)
    out = tmp_path / "diag.json"
    fd = _hold(claim_path(out))
    try:
        argv = ["diagnose", "distance", "--task", "t.npz", "--json", str(out)]
        assert cli.main(argv) == 2
    finally:
        os.close(fd)
    assert "is being written by another relcon process (pid 4242" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# 2. no lock file left behind; 3. --overwrite deletes only what a run wrote
# --------------------------------------------------------------------------------------------
def test_a_finished_run_leaves_no_lock_file(tmp_path):
    from relcon.config import DistanceTrainConfig
    from relcon.train.common import open_run

    out = tmp_path / "run"
    with open_run(DistanceTrainConfig(device="cpu", compile=False), out):
        assert (out / LOCK_FILE).is_file()
    assert not (out / LOCK_FILE).exists() and (out / "config.toml").is_file()
    with pytest.raises(RuntimeError, match="crash"), lock_folder(out):
        raise RuntimeError("crash")
    assert not (out / LOCK_FILE).exists()


def _old_run(out: Path) -> None:
    (out / "checkpoints" / "step-00000010").mkdir(parents=True)
    for name in ("model.safetensors", "model.json", "config.toml", "metrics.csv"):
        (out / name).write_text("old")
    (out / ".model.json.ab12cd34.tmp").write_text("left by a killed run")


def test_overwrite_refuses_a_run_folder_holding_the_users_files(tmp_path, capsys):
    out = tmp_path / "run"
    _old_run(out)
    (out / "recording_2024.csv").write_text("the user's data")
    (out / "notes.txt").write_text("the user's notes")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    argv = ["train-distance", "--out", str(out), "--overwrite", "--device", "cpu", "--steps", "1"]
    assert cli.main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "overwrite refused" in err and "notes.txt, recording_2024.csv" in err
    assert "nothing was deleted" in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing deleted


def test_overwrite_deletes_what_the_run_wrote(tmp_path):
    from relcon.train.common import prepare_run_dir

    out = tmp_path / "run"
    _old_run(out)
    with lock_folder(out):
        prepare_run_dir(out, resume=False, overwrite=True)
        assert [p.name for p in out.iterdir()] == [LOCK_FILE]
    assert not list(out.iterdir())


def test_clear_outputs_names_at_most_five(tmp_path):
    for i in range(7):
        (tmp_path / f"mine{i}.txt").write_text("x")
    with pytest.raises(FileExistsError, match=r"holds 7 entries .*mine4.txt and 2 more"):
        clear_outputs(tmp_path, {"model.json"}, what="a training run")


# --------------------------------------------------------------------------------------------
# 4. a report folder used again
# --------------------------------------------------------------------------------------------
def _results(path: Path, task: str) -> Path:
    run = {"name": "RelCon", "task": task, "protocol": "linear", "metric": "macro_f1"}
    rows = [{**run, "mean": 0.8, "std": 0.1, "n": 1, "values": [0.8]}]
    few = [{**run, "k": k, "mean": 0.5 + k / 100, "std": 0.0, "n": 1, "values": [0.5 + k / 100]}
           for k in (1, 5)]  # fmt: skip
    return write_results(path, {"rows": rows, "few_shot": few, "name": "RelCon",
                                "features": "model", "protocol": "linear",
                                "task": {"name": task, "type": "classification"}})  # fmt: skip


def test_report_into_a_used_folder_needs_overwrite_and_leaves_no_stale_figure(tmp_path, capsys):
    rep = tmp_path / "rep"
    first = _results(tmp_path / "a.json", "taskA")
    second = _results(tmp_path / "b.json", "taskB")
    assert cli.main(["report", str(first), "--out", str(rep)]) == 0
    assert (rep / "fewshot_taskA.png").is_file() and not (rep / LOCK_FILE).exists()
    old = (rep / "report.md").read_text()
    capsys.readouterr()
    assert cli.main(["report", str(second), "--out", str(rep)]) == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and "pass --overwrite" in err
    assert (rep / "report.md").read_text() == old
    assert cli.main(["report", str(second), "--out", str(rep), "--overwrite"]) == 0
    names = sorted(p.name for p in rep.iterdir())
    assert "fewshot_taskB.png" in names and "fewshot_taskA.png" not in names
    assert "taskB" in (rep / "report.md").read_text()
    # a file the report did not write: refused, nothing deleted
    (rep / "my_notes.md").write_text("mine")
    assert cli.main(["report", str(first), "--out", str(rep), "--overwrite"]) == 2
    assert "my_notes.md" in capsys.readouterr().err
    assert sorted(p.name for p in rep.iterdir()) == sorted([*names, "my_notes.md"])


def test_report_into_a_locked_folder_is_refused(tmp_path, capsys):
    rep = tmp_path / "rep"
    rep.mkdir()
    fd = _hold(rep / LOCK_FILE)
    try:
        assert cli.main(["report", str(_results(tmp_path / "a.json", "t")), "--out", str(rep)]) == 2
    finally:
        os.close(fd)
    assert f"{rep} is in use by another relcon process (pid 4242" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# 5. the run record where every reader looks; 6. window_index
# --------------------------------------------------------------------------------------------
def test_parquet_record_is_in_the_schema_and_the_window_column_is_window_index(
    tmp_path, encoder_dir
):
    rec = _csv(tmp_path / "rec.csv")
    out = tmp_path / "emb.parquet"
    embed_recordings(rec, encoder_dir, out, device="cpu", progress=False, drop_nonwear=False)
    record = read_metadata(out)
    assert record["command"] == "embed" and record["recordings"][0]["recording"] == "rec"
    for meta in (
        pq.read_schema(out).metadata,
        pq.read_table(out).schema.metadata,
        pq.ParquetFile(out).metadata.metadata,
    ):
        assert json.loads(meta[b"relcon"]) == record
    df = pd.read_parquet(out)
    assert list(df.columns[:4]) == ["recording", "window_index", "start_s", "start_time"]
    assert "window" not in df.columns and df["window_index"].tolist() == list(range(len(df)))
    csv = embed_recordings(rec, encoder_dir, tmp_path / "emb.csv", device="cpu", progress=False)
    assert "window_index" in pd.read_csv(csv).columns


# --------------------------------------------------------------------------------------------
# 7. --skip-bad: only for a recording that cannot be read
# --------------------------------------------------------------------------------------------
def _broken(exc: Exception) -> WindowFunction:
    def compute(x: np.ndarray) -> dict:
        raise exc

    return WindowFunction(compute, "embed", {})


@pytest.mark.parametrize("skip_bad", [False, True])
@pytest.mark.parametrize(
    "exc",
    [ModelOutputError("the model produced NaN outputs from finite inputs"),
     ValueError("shapes do not match in the model")],
)  # fmt: skip
def test_model_errors_are_not_skipped_and_get_no_hint(tmp_path, exc, skip_bad):
    rec = _csv(tmp_path / "rec.csv")
    out = tmp_path / "emb.parquet"
    with pytest.raises(type(exc)) as err:
        embed_recordings(rec, _broken(exc), out, progress=False, drop_nonwear=False,
                         skip_bad=skip_bad)  # fmt: skip
    assert err.value is exc and str(err.value) == str(exc) and "--skip-bad" not in str(err.value)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["rec.csv"]


def test_settings_errors_are_not_blamed_on_a_recording(tmp_path, encoder_dir, capsys):
    rec = _csv(tmp_path / "rec.csv")
    out = tmp_path / "emb.parquet"
    assert cli.main(_embed_argv(rec, out, encoder_dir, "--stride-s", "1.234")) == 2
    err = capsys.readouterr().err
    assert "stride_s must be a positive multiple of 0.01 s" in err
    assert "--skip-bad" not in err and "rec.csv" not in err


def test_an_unreadable_recording_still_suggests_skip_bad(tmp_path, encoder_dir, capsys):
    (tmp_path / "empty.csv").write_bytes(b"")
    out = tmp_path / "emb.parquet"
    assert cli.main(_embed_argv(tmp_path / "empty.csv", out, encoder_dir)) == 2
    err = capsys.readouterr().err
    assert "empty.csv: file is empty" in err and "pass --skip-bad" in err


# --------------------------------------------------------------------------------------------
# 8. progress that fits its output
# --------------------------------------------------------------------------------------------
def test_apps_show_progress_through_relcon_progress(tmp_path, encoder_dir, capsys):
    apps = Path(cli.__file__).parent / "apps"
    users = [str(p) for p in apps.rglob("*.py") if "tqdm" in p.read_text()]
    assert users == []
    rec = _csv(tmp_path / "rec.csv")
    embed_recordings(rec, encoder_dir, tmp_path / "e.parquet", device="cpu", drop_nonwear=False)
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines()[-1].startswith("embed: 100%")
