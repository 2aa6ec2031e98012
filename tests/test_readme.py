"""The README's Python API section runs as written and says what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relcon
from relcon.data.datasets import load_demo
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import save_model

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _python_blocks(section: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_python_api_runs(tmp_path, monkeypatch):
    """Every block of the section runs; the training calls are replaced by stand-ins that check
    the configuration (the demo's sizes, as the text says) and write a model of that size."""
    import relcon.train.distance as train_distance_module
    import relcon.train.relcon as train_relcon_module

    seen = {}

    def fake_train_distance(cfg, out):
        seen["distance"] = cfg
        return save_model(
            out, MotifDistance.from_config(cfg.architecture), "distance", step=cfg.steps
        )

    def fake_pretrain(cfg, out):
        seen["pretrain"] = cfg
        assert cfg.distance == "runs/distance" and Path(cfg.distance, "model.json").is_file()
        return save_model(out, ResNet1DEncoder(cfg.encoder), "encoder", step=cfg.steps)

    monkeypatch.setattr(train_distance_module, "train_distance", fake_train_distance)
    monkeypatch.setattr(train_relcon_module, "pretrain", fake_pretrain)
    monkeypatch.chdir(tmp_path)
    rec = next(r for r in load_demo() if len(r.x) >= 6000)
    x = rec.x[:6000]  # one minute of real watch data at 100 Hz, in g
    t = 1_700_000_000 + np.arange(len(x)) / 100
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(
        "wrist.csv.gz", index=False
    )

    section = _section("Python API")
    blocks = _python_blocks(section)
    assert len(blocks) == 3
    ns: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), ns)  # the README's own examples

    # the training block: the demo's sizes, as the text says
    dist_cfg, pre_cfg = seen["distance"], seen["pretrain"]
    assert (dist_cfg.steps, pre_cfg.steps, dist_cfg.architecture.channels) == (400, 600, 32)
    assert "400 + 600 steps" in section and "32-channel" in section
    n_params = sum(p.numel() for p in ResNet1DEncoder(pre_cfg.encoder).parameters())
    assert round(n_params / 1000) == 141 and "141k-parameter" in section

    # the using block: shapes and return types as commented
    encoder, shipped = ns["encoder"], ns["shipped"]
    assert ns["z"].shape == (10, encoder.embed_dim) == (10, 128)
    assert shipped.embed_dim == 256 and "128 here, 256 for the shipped model" in section
    assert isinstance(ns["distance"], MotifDistance)
    assert {(m.name, m.kind) for m in ns["models"]} >= {("relcon-wrist-small", "encoder")}
    assert isinstance(ns["path"], Path) and ns["path"] == Path("emb.parquet")
    assert ns["emb"].shape == (6000 // 256, shipped.embed_dim)
    assert isinstance(ns["df"], pd.DataFrame) and len(ns["df"]) == 234


@pytest.mark.parametrize("claim", [r"\(N, 256\)\s*$", r"-> \(N, 256\)", r"-> \(B, 256\)"])
def test_readme_states_no_fixed_embedding_size(claim):
    """Embeddings are (N, D), D = encoder.embed_dim; the README says so, not (N, 256)."""
    for block in [_section("Python API"), *_python_blocks(_section("Python API"))]:
        assert not re.search(claim, block, flags=re.M)
    assert relcon.load().embed_dim == 256 and relcon.load("relcon-wrist-small").embed_dim == 128


def test_readme_states_no_test_count():
    """A number of tests drifts with every change; the README does not state one."""
    assert not re.search(r"\b\d[\d,]*\s+tests\b", README.read_text())
