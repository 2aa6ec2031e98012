"""The data a careless user hands over (issue 25): comma-decimal CSVs, rows of the wrong length,
a 1e39 spike in one file of a folder, a truncated download, task files that are not what the
format says. Every error names the file (and the line or row), and what a task file left to
guess is said in ``Task.notes``."""

from __future__ import annotations

import gzip
import json
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import relcon.eval.builtin as builtin
from relcon.cli import main
from relcon.config import spelled_as_flags
from relcon.data.corpus import prepare_corpus
from relcon.data.datasets import read_wisdm_watch
from relcon.data.datasets.base import reading
from relcon.data.formats import G
from relcon.data.stream import iter_windows, read_recording
from relcon.data.tasks import Task, load_task, save_task
from task_fixtures import sine_task


def _csv(path: Path, n: int = 3000, *, spike_row: int | None = None) -> Path:
    """A clean 100 Hz CSV in g (x, y, z with noise and gravity on z)."""
    rng = np.random.default_rng(len(path.name))
    x = 0.02 * rng.standard_normal((n, 3)) + [0.0, 0.0, 1.0]
    lines = ["time,x,y,z"] + [
        f"{i / 100:.2f},{a:.5f},{b:.5f},{c:.5f}" for i, (a, b, c) in enumerate(x)
    ]
    if spike_row is not None:
        lines[spike_row + 1] = f"{spike_row / 100:.2f},1e39,0.0,1.0"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# 1. rows that do not fit the header
# --------------------------------------------------------------------------------------------
def test_comma_decimal_csv_is_diagnosed_not_read(tmp_path):
    """``0,12`` in a comma-separated file splits every row into 7 fields under a 4-column
    header: refused, saying so (the old reader took the extra fields as an index and detected
    units from garbage)."""
    path = tmp_path / "euro.csv"
    rows = [f"{i * 10},0,{12 + i % 3},-0,98,0,05" for i in range(3000)]
    path.write_text("time,x,y,z\n" + "\n".join(rows) + "\n")
    for read in (read_recording, iter_windows):
        with pytest.raises(ValueError) as err:
            read(path)
        msg = str(err.value)
        assert msg.startswith(f"{path}: line 2 has 7 fields but the header has 4 columns")
        assert "decimal commas" in msg and "'.' as the decimal mark" in msg


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda ln: ln.rsplit(",", 1)[0], r"line 1502 has 3 fields but the header has 4 columns"),
        (lambda ln: ln + ",", r"line 1502 has 5 fields but the header has 4 columns.*extra ','"),
    ],
    ids=["missing-field", "trailing-comma"],
)
def test_any_row_length_mismatch_names_file_line_and_counts(tmp_path, edit, expected):
    path = _csv(tmp_path / "rec.csv")
    lines = path.read_text().splitlines()
    lines[1501] = edit(lines[1501])
    gz = tmp_path / "rec.csv.gz"
    gz.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(ValueError, match=r"rec\.csv\.gz: " + expected):
        read_recording(gz)


def test_quoted_fields_with_commas_are_fine(tmp_path):
    path = _csv(tmp_path / "q.csv", n=600)
    text = path.read_text().replace("time,x,y,z", 'time,x,y,z,"note, with comma"')
    lines = text.splitlines()
    path.write_text("\n".join([lines[0]] + [ln + ',"a, b"' for ln in lines[1:]]) + "\n")
    pieces, info = read_recording(path)
    assert info.rows == 600 and pieces


# --------------------------------------------------------------------------------------------
# 2. a 1e39 spike in one file of a folder
# --------------------------------------------------------------------------------------------
def test_spike_names_its_own_file_and_row_without_a_numpy_warning(tmp_path):
    folder = tmp_path / "rec"
    for k in range(3):
        _csv(folder / f"u{k}.csv", spike_row=1234 if k == 1 else None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning "overflow encountered in cast"
        with pytest.raises(ValueError) as err:
            prepare_corpus([folder], tmp_path / "corpus", progress=False)
    msg = str(err.value)
    assert msg.startswith(f"{folder / 'u1.csv'}: data row 1235 (file line 1236), time 12.34")
    assert "1e+39" in msg


def test_spike_through_embed_names_the_file_holding_it(tmp_path, capsys):
    folder = tmp_path / "rec"
    for k in range(3):
        _csv(folder / f"u{k}.csv", spike_row=1500 if k == 1 else None)
    rc = main(["embed", str(folder), "--out", str(tmp_path / "e.parquet"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"relcon: error: {folder / 'u1.csv'}: data row 1501 (file line 1502)" in err
    assert "overflow" not in err and "non-finite values in windows" not in err


# --------------------------------------------------------------------------------------------
# 3. damaged downloads
# --------------------------------------------------------------------------------------------
def _wisdm_root(root: Path, damage) -> Path:
    accel = root / "wisdm_watch" / "raw" / "watch" / "accel"
    accel.mkdir(parents=True)
    t = 10**12 + np.arange(2000, dtype=np.int64) * 50_000_000
    text = "".join(f"1700,A,{ti},0.1,0.2,{G:.5f};\n" for ti in t)
    path = accel / "data_1700_accel_watch.txt.gz"
    path.write_bytes(damage(gzip.compress(text.encode())))
    return path


def _truncate(b: bytes) -> bytes:
    return b[: len(b) // 2]


def _corrupt(b: bytes) -> bytes:
    mid = len(b) // 2
    return b[:mid] + bytes(64) + b[mid + 64 :]


@pytest.mark.parametrize("damage", [_truncate, _corrupt], ids=["truncated", "corrupt"])
def test_damaged_gz_in_a_data_set_is_named(tmp_path, damage):
    path = _wisdm_root(tmp_path, damage)
    with pytest.raises(ValueError) as err:
        read_wisdm_watch(tmp_path)
    assert str(err.value).startswith(f"{path}: damaged or truncated compressed file (")
    assert str(err.value).endswith("download it again")


def test_tasks_build_with_a_truncated_gz_names_it(tmp_path, capsys):
    path = _wisdm_root(tmp_path / "data", _truncate)
    rc = main(["tasks", "build", "--data-root", str(tmp_path / "data"), "--out",
               str(tmp_path / "tasks"), "--names", "wisdm_har6"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    last = err.strip().splitlines()[-1]  # after the progress lines
    assert last.startswith(f"relcon: error: {path}: damaged or truncated compressed file")


@pytest.mark.parametrize(
    "exc",
    [EOFError("cut"), zlib.error("bad"), gzip.BadGzipFile("not gz"),
     zipfile.BadZipFile("bad zip"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad byte")],
    ids=lambda e: type(e).__name__,
)  # fmt: skip
def test_reading_names_the_file_for_every_damage(exc):
    with pytest.raises(ValueError, match=r"^/d/a\.csv\.gz: damaged or truncated compressed"):
        with reading("/d/a.csv.gz"):
            raise exc


def test_damaged_csv_gz_recording_is_named(tmp_path):
    path = _csv(tmp_path / "r.csv", n=20000)
    gz = tmp_path / "r.csv.gz"
    gz.write_bytes(_corrupt(gzip.compress(path.read_bytes())))
    with pytest.raises(ValueError, match=r"r\.csv\.gz: damaged or truncated compressed file"):
        read_recording(gz)


# --------------------------------------------------------------------------------------------
# 4. task files
# --------------------------------------------------------------------------------------------
def _task_file(tmp_path: Path, name: str = "t", **change) -> Path:
    """A valid task written with np.savez, with keys changed (None removes one)."""
    rng = np.random.default_rng(0)
    n = 24
    arrays = {
        "X": rng.normal(scale=0.1, size=(n, 256, 3)) + np.array([0.0, 0.0, 1.0]),
        "y": np.arange(n) % 3,
        "groups": np.array([f"s{i % 4}" for i in range(n)]),
        "fs": np.float64(100.0),
        "task_type": np.asarray("classification"),
    }
    for k, v in change.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def test_task_in_m_s2_is_converted_with_a_note(tmp_path):
    ref = load_task(_task_file(tmp_path, "g"))
    assert ref.notes == []
    with np.load(tmp_path / "g.npz") as z:
        x = z["X"]
    task = load_task(_task_file(tmp_path, "ms2", X=x * G))
    np.testing.assert_allclose(task.X, ref.X, rtol=1e-5, atol=1e-6)
    assert any("looks like m/s^2" in n and "converted to g" in n for n in task.notes)
    assert task.subset(np.arange(4)).notes == task.notes


def test_task_stating_units_the_data_contradict_is_refused(tmp_path):
    with np.load(_task_file(tmp_path, "g")) as z:
        x = z["X"]
    path = _task_file(tmp_path, "said_g", X=x * G, units=np.asarray("g"))
    with pytest.raises(
        ValueError, match=r"said_g\.npz: the file says units 'g'.*looks like m/s\^2"
    ):
        load_task(path)
    said = load_task(_task_file(tmp_path, "said_ms2", X=x * G, units=np.asarray("m/s^2")))
    assert said.notes == [] and abs(np.median(np.linalg.norm(said.X, axis=2)) - 1) < 0.1


def test_task_labels_left_to_guess_are_noted(tmp_path):
    floats = load_task(_task_file(tmp_path, "f", y=(np.arange(24) % 3).astype(float)))
    assert floats.y.dtype == np.int64
    assert any("stored as floats" in n for n in floats.notes)
    guessed = load_task(
        _task_file(tmp_path, "r", y=(np.arange(24) % 3).astype(float), task_type=None)
    )
    assert guessed.task_type == "regression"
    assert any("no task_type" in n and "only 3 whole values" in n for n in guessed.notes)


def test_task_file_shape_and_key_hints(tmp_path):
    with np.load(_task_file(tmp_path, "g")) as z:
        x, groups = z["X"], z["groups"]
    with pytest.raises(ValueError, match=r"cf\.npz: X must be \(N, T, 3\).*channels first"):
        load_task(_task_file(tmp_path, "cf", X=x.transpose(0, 2, 1)))
    with pytest.raises(ValueError, match=r"subj\.npz: missing.*'subject' found: name .* 'groups'"):
        load_task(_task_file(tmp_path, "subj", groups=None, subject=groups))
    with pytest.raises(ValueError, match=r"short\.npz: groups must have shape \(24,\)"):
        load_task(_task_file(tmp_path, "short", groups=groups[:20]))


def test_task_value_beyond_float32_is_refused_not_cast_to_inf(tmp_path):
    with np.load(_task_file(tmp_path, "g")) as z:
        x = z["X"]
    x[5, 100, 0] = 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"spike\.npz: X has 1 NaN, infinite or out-of-range "
                           r"values in 1 windows \(first: window 5\)"):  # fmt: skip
            load_task(_task_file(tmp_path, "spike", X=x))


def test_truncated_task_file_is_named(tmp_path):
    path = _task_file(tmp_path, "cut")
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match=r"cut\.npz: damaged or truncated compressed file"):
        load_task(path)


def test_task_notes_reach_the_results(tmp_path):
    from relcon.config import EvalConfig
    from relcon.eval.harness import evaluate

    src = load_task(sine_task(tmp_path, "sines", n_subjects=4, per=6, seed=0))
    save_task(Task(X=src.X * G, y=src.y, groups=src.groups, task_type=src.task_type,
                   name="ms2"), tmp_path / "ms2.npz")  # fmt: skip
    evaluate(EvalConfig(task=str(tmp_path / "ms2.npz"), features="handcrafted", folds=2),
             tmp_path / "r", progress=False)  # fmt: skip
    notes = json.loads((tmp_path / "r" / "results.json").read_text())["task_notes"]
    assert any("converted to g" in n for n in notes)


# --------------------------------------------------------------------------------------------
# 5. and 6. messages in the user's spelling; progress fit for a log
# --------------------------------------------------------------------------------------------
def test_tasks_build_spells_overwrite_as_the_user_writes_it(tmp_path, capsys):
    (tmp_path / "wisdm_har6.npz").write_bytes(b"")
    with pytest.raises(FileExistsError, match=r"pass overwrite=True to replace"):
        builtin.build_tasks(tmp_path, tmp_path, names=["wisdm_har6"], progress=False)
    rc = main(["tasks", "build", "--data-root", str(tmp_path), "--out", str(tmp_path),
               "--names", "wisdm_har6"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "pass --overwrite to replace" in err and "overwrite=True" not in err


def test_prepare_spells_user_from_as_the_user_writes_it(tmp_path):
    a = _csv(tmp_path / "a" / "day.csv", n=600)
    b = _csv(tmp_path / "b" / "day.csv", n=600)
    with pytest.raises(ValueError, match=r"rename one, or use user_from='parent'"):
        prepare_corpus([a, b], tmp_path / "c1", progress=False)
    with spelled_as_flags({"user_from": "--user-from"}):
        with pytest.raises(ValueError, match=r"rename one, or use --user-from parent$"):
            prepare_corpus([a, b], tmp_path / "c2", progress=False)


def test_tasks_build_progress_is_whole_lines_in_a_log(tmp_path, monkeypatch, capsys):
    toy = Task(X=np.zeros((4, 256, 3), np.float32), y=np.array([0, 1, 0, 1]),
               groups=np.array(["a", "a", "b", "b"]), task_type="classification")  # fmt: skip
    monkeypatch.setattr(builtin, "_root", lambda root: tmp_path)
    monkeypatch.setattr(builtin, "_build", lambda name, root, cache: toy)
    builtin.build_tasks(tmp_path, tmp_path / "out", names=["wisdm_har6", "hapt_har6"])
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines()[-1].startswith("build tasks: 100%")


def test_prepare_progress_is_whole_lines_in_a_log(tmp_path, capsys):
    _csv(tmp_path / "in" / "u0.csv", n=1200)
    prepare_corpus([tmp_path / "in"], tmp_path / "corpus", progress=True)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and any(ln.startswith("prepare: 100%") for ln in lines)
    assert any(ln.startswith("read: 100%") for ln in lines)  # bytes of the inputs read
