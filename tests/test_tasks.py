"""Task files: the format, its validation and its conversion to the model's contract."""

import numpy as np
import pytest

from relcon.data.tasks import Task, fit_length, load_task, save_task


def _task(n=40, t=256, subjects=4, fs=100.0, **kw):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, t, 3)).astype(np.float32)
    y = np.arange(n) % 3
    groups = np.array([f"s{i % subjects}" for i in range(n)])
    return Task(
        X=x,
        y=y,
        groups=groups,
        task_type="classification",
        fs=fs,
        label_names=("a", "b", "c"),
        **kw,
    )


def _write(tmp_path, name="t.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_round_trip(tmp_path):
    task = _task(split=np.array(["train" if i % 4 < 3 else "test" for i in range(40)]))
    save_task(task, tmp_path / "t.npz")
    back = load_task(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.X, task.X)
    np.testing.assert_array_equal(back.y, task.y)
    assert back.label_names == ("a", "b", "c") and back.task_type == "classification"
    assert list(back.split[:4]) == ["train", "train", "train", "test"]


def test_other_rate_and_length_are_resampled_and_cut_or_tiled(tmp_path):
    t = np.arange(100) / 50  # 2 s at 50 Hz of a 2 Hz sine
    x = np.stack([np.sin(2 * np.pi * 2 * t), np.zeros(100), np.ones(100)], axis=1)
    x = np.repeat(x[None], 6, axis=0).astype(np.float32)
    path = _write(
        tmp_path, X=x, y=np.array([0, 1] * 3), groups=np.array(["a", "b", "c"] * 2), fs=50.0
    )
    task = load_task(path)
    assert task.X.shape == (6, 256, 3) and task.fs == 100
    # 2 s at 100 Hz = 200 samples tiled to 256; the sine keeps its 2 Hz frequency
    spec = np.abs(np.fft.rfft(task.X[0, :200, 0]))
    assert abs(np.argmax(spec) * 100 / 200 - 2.0) < 0.01
    np.testing.assert_allclose(task.X[0, 200:256, 2], 1.0, atol=1e-3)  # tiled, not zero padded
    long = fit_length(np.arange(600, dtype=float).reshape(1, 600, 1))
    assert long[0, 0, 0] == 172 and long.shape == (1, 256, 1)  # centre crop


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"X": np.full((4, 256, 3), np.nan)}, "NaN"),
        ({"X": np.zeros((4, 256, 2))}, r"\(N, T, 3\)"),
        ({"y": np.array([0, 1, 0])}, "shape"),
        ({"groups": np.array(["a"] * 4)}, "only 1 subject"),
        ({"y": np.array([0, 0, 0, 0])}, "2 classes"),
        ({"y": np.array([0, -1, 1, 0])}, ">= 0"),
        ({"fs": -5.0}, "positive"),
        ({"task_type": np.array("ranking")}, "task_type"),
        ({"split": np.array(["train", "train", "test", "val"])}, "split"),
        (
            {
                "split": np.array(["train", "test", "train", "test"]),
                "groups": np.array(["a", "a", "b", "b"]),
            },
            "both train and test",
        ),
    ],
)
def test_bad_task_files_name_the_file_and_problem(tmp_path, change, message):
    base = {
        "X": np.zeros((4, 256, 3)),
        "y": np.array([0, 1, 0, 1]),
        "groups": np.array(["a", "b", "c", "d"]),
        "fs": 100.0,
    }
    path = _write(tmp_path, "bad.npz", **{**base, **change})
    with pytest.raises(ValueError, match=message) as e:
        load_task(path)
    assert "bad.npz" in str(e.value)


def test_missing_keys_and_regression_inference(tmp_path):
    path = _write(tmp_path, X=np.zeros((4, 256, 3)), y=np.zeros(4))
    with pytest.raises(ValueError, match="missing required key"):
        load_task(path)
    path = _write(tmp_path, "r.npz", X=np.zeros((4, 256, 3)), y=np.array([0.5, 1.5, 2.0, 3.0]),
                  groups=np.array(["a", "b", "a", "b"]), fs=100.0)  # fmt: skip
    task = load_task(path)
    assert task.task_type == "regression" and task.y.dtype == np.float64
