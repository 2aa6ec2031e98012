"""Model files and evaluation results against a careless user (issue 25): damaged weights are
refused, a model that produces NaN is an error, each shipped model keeps its own name in results
and reports, and the report never drops a row."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import relcon
from conftest import TINY_ENCODER
from relcon.cli import main
from relcon.config import EvalConfig
from relcon.eval import harness
from relcon.eval.harness import evaluate
from relcon.eval.report import load_results, write_report
from relcon.eval.results import write_results
from relcon.models import hub
from relcon.models.encoder import ModelOutputError, ResNet1DEncoder, run_windows
from relcon.models.finetuned import FinetunedModel
from task_fixtures import sine_task

ASSETS = Path(relcon.__file__).parent / "assets"
X = np.random.default_rng(1).normal(size=(6, 256, 3)).astype(np.float32)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tiny(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return hub.save_model(folder, ResNet1DEncoder(TINY_ENCODER), step=0)


# ----------------------------------------------------------------------------------------------
# 1. model files carry a checksum of their weights, checked on every load
# ----------------------------------------------------------------------------------------------
def test_checksum_written_by_save_model_and_carried_by_the_shipped_models(tmp_path):
    folder = _tiny(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["safetensors_sha256"] == _sha256(folder / "model.safetensors")
    shipped = sorted(ASSETS.glob("*/*/model.json"))
    assert len(shipped) == 4
    for desc in shipped:
        recorded = json.loads(desc.read_text())["safetensors_sha256"]
        assert recorded == _sha256(desc.with_suffix(".safetensors")), desc


def test_random_bytes_in_the_weights_are_refused_naming_the_files(tmp_path):
    folder = _tiny(tmp_path / "m")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    (header,) = struct.unpack("<Q", data[:8])
    start = 8 + header  # the tensors' bytes; the header stays valid
    data[start + 100 : start + 1100] = np.random.default_rng(0).bytes(1000)
    weights.write_bytes(bytes(data))
    load_file(str(weights))  # still a readable safetensors file: only the checksum can tell
    with pytest.raises(ValueError, match="changed since they were written") as e:
        relcon.load(folder)
    assert str(weights) in str(e.value) and str(folder / "model.json") in str(e.value)
    # the same through the command line: one line naming the file, no embeddings written
    csv, out = _recording(tmp_path), tmp_path / "emb.parquet"
    assert main(["embed", str(csv), "--model", str(folder), "--out", str(out), "--no-progress"])
    assert not out.exists()


def test_a_description_without_checksum_is_refused_until_recorded(tmp_path):
    folder = _tiny(tmp_path / "m")
    desc = folder / "model.json"
    meta = json.loads(desc.read_text())
    del meta["safetensors_sha256"]
    desc.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="records no checksum") as e:
        relcon.load(folder)
    assert "relcon.models.hub.record_checksum" in str(e.value) and str(desc) in str(e.value)
    assert hub.record_checksum(folder) == _sha256(folder / "model.safetensors")
    torch.manual_seed(0)
    expected = ResNet1DEncoder(TINY_ENCODER).embed(X)
    np.testing.assert_array_equal(relcon.load(folder).embed(X), expected)
    with pytest.raises(ValueError, match="shipped model"):
        hub.record_checksum("relcon-wrist-small")


# ----------------------------------------------------------------------------------------------
# 2. a model that produces NaN or infinity is an error, not a table of NaN
# ----------------------------------------------------------------------------------------------
def _recording(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 3000
    xyz = rng.normal(scale=0.1, size=(n, 3)) + np.array([0.0, 0.0, 1.0])
    path = tmp_path / "rec.csv"
    t = 1_700_000_000 + np.arange(n) / 100.0
    pd.DataFrame({"time": t, "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}).to_csv(path)
    return path


def test_embed_with_a_nan_model_fails_naming_the_model(tmp_path, capsys):
    enc = ResNet1DEncoder(TINY_ENCODER)
    with torch.no_grad():
        enc.stem[0].weight.fill_(float("nan"))
    folder = hub.save_model(tmp_path / "nan", enc, step=0)  # a valid checksum: loads
    assert torch.isnan(relcon.load(folder).stem[0].weight).all()
    out = tmp_path / "emb.parquet"
    args = ["embed", str(_recording(tmp_path)), "--model", str(folder), "--out", str(out)]
    rc = main([*args, "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc != 0 and not out.exists()
    assert "NaN or infinite outputs for windows 0.." in err and "inputs were finite" in err
    assert str(folder / "model.safetensors") in err
    assert "Traceback" not in err


class _Overflow(nn.Module):
    """Sums each window over time (``(B, T, 3)`` in): finite inputs of 1e38 overflow to infinity."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x.sum(dim=1)[:, :2]


def test_run_windows_names_the_windows_and_the_inputs():
    x = np.zeros((10, 256, 3), dtype=np.float32)
    x[5:8] = 1e38  # windows 5, 6 and 7 overflow; their inputs are finite
    assert np.isfinite(x).all()
    with pytest.raises(ModelOutputError, match=r"_Overflow produced NaN or infinite outputs for "
                       r"windows 5\.\.7 \(3 of the 4 in this batch; 10 in all"):  # fmt: skip
        run_windows(_Overflow(), x, 2, batch_size=4)
    ft = FinetunedModel(ResNet1DEncoder(TINY_ENCODER), task_type="classification", classes=[0, 1])
    bad = X.copy()
    bad[2, 7, 1] = np.nan
    with pytest.raises(ValueError, match=r"windows 2\.\.2 .*input holds NaN") as e:
        ft.outputs(bad)
    assert not isinstance(e.value, ModelOutputError)  # the input's fault, not the model's


# ----------------------------------------------------------------------------------------------
# 3. each shipped model keeps its own name; the report never drops a row
# ----------------------------------------------------------------------------------------------
def test_two_shipped_models_are_two_rows(tmp_path):
    task = sine_task(tmp_path, "sines", n_subjects=4, per=12, seed=0)
    files = []
    for name in ("relcon-wrist-small", "relcon-wrist-full"):
        out = tmp_path / name
        cfg = EvalConfig(task=str(task), model=name, folds=2, device="cpu")
        assert evaluate(cfg, out, progress=False)["name"] == f"{name} (shipped)"
        files.append(out / "results.json")
    write_report(load_results(files), tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| relcon-wrist-small (shipped) | linear |" in md
    assert "| relcon-wrist-full (shipped) | linear |" in md


def test_two_files_with_one_label_and_tied_scores_are_both_reported(tmp_path):
    """Files labelled the same way (as both shipped models were) and scoring the same: both
    rows are reported, told apart by their folders; none is dropped."""
    files = []
    for folder in ("small", "full"):
        row = {"name": "relcon (shipped)", "task": "t", "protocol": "linear",
               "metric": "macro_f1", "mean": 0.5, "std": 0.1, "n": 2, "values": [0.4, 0.6]}  # fmt: skip
        path = tmp_path / folder / "results.json"
        write_results(path, {"rows": [row], "name": row["name"], "features": "model",
                             "protocol": "linear", "task": {"name": "t", "type": "classification"}})  # fmt: skip
        files.append(path)
    write_report(load_results(files), tmp_path / "report")
    with (tmp_path / "report" / "report.csv").open() as f:
        rows = list(pd.read_csv(f).itertuples())
    assert sorted(r.name for r in rows) == ["relcon (shipped) [full]", "relcon (shipped) [small]"]
    assert sorted(r.source for r in rows) == sorted(str(p) for p in files)
    assert "kept apart" in (tmp_path / "report" / "report.md").read_text()


# ----------------------------------------------------------------------------------------------
# 4-6. task notes, progress that fits a log, settings spelled as the user writes them
# ----------------------------------------------------------------------------------------------
def test_task_notes_are_written_and_printed_once(tmp_path, monkeypatch, capsys):
    path = sine_task(tmp_path, "sines", n_subjects=4, per=6, seed=0)
    notes = ("labels read as classes (integers)", "fs assumed 100 Hz")

    def load_with_notes(p):
        task = relcon.data.tasks.load_task(p)
        task.notes = (*notes, notes[0])  # a note repeated: said once
        return task

    monkeypatch.setattr(harness, "load_task", load_with_notes)
    res = evaluate(EvalConfig(task=str(path), features="handcrafted", folds=2), tmp_path / "r")
    assert res["task_notes"] == list(notes)
    assert json.loads((tmp_path / "r" / "results.json").read_text())["task_notes"] == list(notes)
    printed = capsys.readouterr().out
    assert [printed.count(n) for n in notes] == [1, 1]


def test_embed_progress_is_whole_lines_in_a_log(capsys):
    ResNet1DEncoder(TINY_ENCODER).embed(X, batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines()[-1].startswith("embed: 100%")


def test_evaluate_spells_overwrite_as_the_user_writes_it(tmp_path, capsys):
    path = sine_task(tmp_path, "sines", n_subjects=4, per=6, seed=0)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.json").write_text("{}")
    with pytest.raises(FileExistsError, match=re.escape("overwrite=True")):
        evaluate(EvalConfig(task=str(path), features="handcrafted", folds=2), tmp_path / "r")
    rc = main(["evaluate", "--task", str(path), "--features", "handcrafted", "--out",
               str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc != 0 and "--overwrite" in err and "overwrite=True" not in err
