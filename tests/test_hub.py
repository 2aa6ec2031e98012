"""The model hub: one loader (``relcon.load``) for every kind of model and every place a model
lives, one registry of shipped models, one writer of model files, "default" resolved once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import relcon
from conftest import TINY_ENCODER
from relcon.models import hub
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.finetuned import FinetunedModel
from relcon.train.checkpoint import save_checkpoint

SRC = Path(relcon.__file__).resolve().parent
X = np.random.default_rng(0).normal(size=(3, 256, 3)).astype(np.float32)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_public_api_and_models_package():
    from relcon.models import MotifDistance as MD
    from relcon.models import ResNet1DEncoder as RE

    assert MD is relcon.MotifDistance and RE is relcon.ResNet1DEncoder
    assert relcon.load is hub.load and relcon.list_models is hub.list_models
    assert relcon.create_model is hub.create_model


def test_list_models_names_kinds_and_default_alias():
    rows = relcon.list_models()
    full = {r.kind: r for r in rows if r.name == "relcon-wrist-full"}
    small = {r.kind: r for r in rows if r.name == "relcon-wrist-small"}
    assert set(full) == set(small) == {"encoder", "distance"}
    assert all("default" in r.aliases and r.description for r in full.values())
    assert all("default" not in r.aliases and r.description for r in small.values())
    assert _same(relcon.load("relcon-wrist-full"), relcon.load())
    assert not _same(relcon.load("relcon-wrist-small"), relcon.load())
    assert _same(relcon.load("default"), relcon.load())
    assert hub.shipped_name(None) == hub.shipped_name("default") == "relcon-wrist-full"
    assert hub.shipped_name("runs/relcon") is None and hub.shipped_name(Path("default")) is None
    assert _same(relcon.load("relcon-wrist-full", kind="distance"), relcon.load(kind="distance"))
    # the paper's sizes: 3.6M-parameter encoder with 256-d embeddings, 64-channel distance
    assert sum(p.numel() for p in relcon.load().parameters()) == pytest.approx(3.6e6, rel=0.02)
    assert relcon.load().embed_dim == 256 and relcon.load(kind="distance").config.channels == 64
    with pytest.raises(ValueError, match="no 'finetuned' model"):
        relcon.load(kind="finetuned")
    with pytest.raises(FileNotFoundError, match=r"not a shipped model.*relcon-wrist-small"):
        relcon.load("relcon-wrist-huge")


def test_a_second_shipped_model_and_moving_default(tmp_path, monkeypatch):
    """The registry is a table: a second model is a folder and a line; "default" is an alias."""
    monkeypatch.setattr(hub, "SHIPPED", dict(hub.SHIPPED))
    monkeypatch.setattr(hub, "ALIASES", dict(hub.ALIASES))
    torch.manual_seed(1)
    tiny = ResNet1DEncoder(TINY_ENCODER)
    hub.save_model(tmp_path / "tiny" / "encoder", tiny, step=5)
    hub.register_model("relcon-tiny", tmp_path / "tiny", "a tiny test encoder")
    assert ("relcon-tiny", "encoder") in {(r.name, r.kind) for r in relcon.list_models()}
    assert _same(relcon.load("relcon-tiny"), tiny)
    assert relcon.load().embed_dim == 256  # "default" still names the full-size wrist model
    with pytest.raises(ValueError, match="no 'distance' model"):
        relcon.load("relcon-tiny", kind="distance")
    hub.ALIASES["default"] = "relcon-tiny"  # what "default" means is said in one place
    assert _same(relcon.load(), tiny)
    assert hub.read_description()["step"] == 5


def test_load_reads_every_place_a_model_lives(tmp_path):
    torch.manual_seed(0)
    enc = ResNet1DEncoder(TINY_ENCODER)
    opt = torch.optim.AdamW(enc.parameters())
    run = tmp_path / "run"
    save_checkpoint(run, enc, "encoder", step=2, trainer_state={"optimizer": opt.state_dict()})
    ckpt = run / "checkpoints" / "step-00000002"
    for source in (run, ckpt, ckpt / "model.safetensors", ckpt / "model.json", str(run)):
        assert _same(relcon.load(source), enc)  # run without final weights: latest checkpoint
    hub.save_model(run, enc, "encoder", step=3)  # the final weights win over checkpoints
    assert hub.read_description(run)["step"] == 3
    assert relcon.load(run, kind="encoder").training is False

    # a fine-tuned model folder (relcon finetune --out)
    ft = FinetunedModel(enc, task_type="classification", classes=[0, 4], info={"task": "t"})
    hub.save_model(tmp_path / "ft", ft)
    loaded = relcon.load(tmp_path / "ft")
    assert isinstance(loaded, FinetunedModel) and loaded.info["task"] == "t"
    np.testing.assert_array_equal(loaded.outputs(X), ft.outputs(X))
    assert isinstance(relcon.load(tmp_path / "ft", kind="finetuned"), FinetunedModel)

    # a bundle folder (the layout of the shipped model and scripts/export_model.py)
    dist = MotifDistance(channels=8, bottleneck=2)
    hub.save_model(tmp_path / "bundle" / "encoder", enc, step=0)
    hub.save_model(tmp_path / "bundle" / "distance", dist, step=0)
    assert _same(relcon.load(tmp_path / "bundle"), enc)
    assert _same(relcon.load(tmp_path / "bundle", kind="distance"), dist)

    # a model object of the right kind passes through; the wrong kind is a clear error
    assert relcon.load(enc, kind="encoder") is enc
    with pytest.raises(TypeError, match="expected a MotifDistance"):
        relcon.load(enc, kind="distance")
    with pytest.raises(TypeError, match="expected a FinetunedModel"):
        relcon.load(123, kind="finetuned")
    with pytest.raises(ValueError, match="holds a 'finetuned' model, expected 'encoder'"):
        relcon.load(tmp_path / "ft", kind="encoder")
    with pytest.raises(ValueError, match="kind must be one of"):
        relcon.load(run, kind="head")


def test_callers_load_through_the_hub(tmp_path):
    """embed, predict, plots, harness, diagnose: the same sources, shipped names included."""
    from relcon.apps.embed import load_encoder
    from relcon.apps.plots.distance import _load_distance
    from relcon.apps.plots.recording import _load_finetuned
    from relcon.apps.predict import load_finetuned
    from relcon.eval.subjects import pretrained_users

    shipped = relcon.load()
    for name in (None, "default", "relcon-wrist-full"):
        assert _same(load_encoder(name, "cpu"), shipped)
    assert _same(load_encoder("relcon-wrist-small", "cpu"), relcon.load("relcon-wrist-small"))
    assert isinstance(_load_distance("relcon-wrist-small"), MotifDistance)
    users = pretrained_users(["default", "relcon-wrist-full"])
    assert users["default"] == users["relcon-wrist-full"] and users["default"]
    ft = FinetunedModel(ResNet1DEncoder(TINY_ENCODER), task_type="classification", classes=[1, 2])
    folder = hub.save_model(tmp_path / "ft", ft)
    assert isinstance(load_finetuned(folder, "cpu"), FinetunedModel)
    assert isinstance(_load_finetuned(str(folder)), FinetunedModel)
    with pytest.raises(ValueError, match="expected 'encoder'"):
        load_encoder(folder, "cpu")


def test_create_model_timm_style(tmp_path):
    enc = relcon.create_model("encoder", stage_filters=(8, 16), stage_blocks=(1, 1),
                              stage_kernels=(3, 3), stem_filters=8)  # fmt: skip
    assert isinstance(enc, ResNet1DEncoder) and enc.config == TINY_ENCODER
    assert isinstance(relcon.create_model("distance", channels=8), MotifDistance)
    random_small = relcon.create_model("default")  # the shipped architecture, random weights
    assert random_small.config == relcon.load().config and not _same(random_small, relcon.load())
    assert _same(relcon.create_model("relcon-wrist-full", pretrained=True), relcon.load())
    small = relcon.create_model("relcon-wrist-small", pretrained=True)
    assert _same(small, relcon.load("relcon-wrist-small")) and small.embed_dim == 128
    hub.save_model(tmp_path / "e", enc, step=0)
    assert _same(relcon.load(tmp_path / "e"), enc)  # saved weights: the one loader
    with pytest.raises(TypeError, match="checkpoint_path"):  # no second way to load weights
        relcon.create_model("encoder", checkpoint_path=tmp_path / "e")
    with pytest.raises(ValueError, match="no trained weights"):
        relcon.create_model("encoder", pretrained=True)
    with pytest.raises(ValueError, match="unknown model"):
        relcon.create_model("resnet-9000")


def test_model_json_has_one_writer_and_default_one_meaning():
    """Only the hub writes model files and only the hub says what "default" names."""
    writers, defaults = [], []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "hub.py":
            continue
        text = path.read_text()
        rel = path.relative_to(SRC)
        for line in text.splitlines():
            if re.search(r"save_file\(|atomic_write_json\([^)]*model\.json", line):
                writers.append(f"{rel}: {line.strip()}")
            if "selection" in line:  # a probe's hyperparameter choice, not a model
                continue
            if re.search(r"(==|!=|\bin)\s*\(?[^#\n]*[\"']default[\"']", line):
                defaults.append(f"{rel}: {line.strip()}")
    assert writers == [], f"model files written outside relcon.models.hub: {writers}"
    where = "\n".join(defaults)
    assert defaults == [], f"'default' interpreted outside relcon.models.hub:\n{where}"


def test_finetuned_model_json_layout(tmp_path):
    """What FinetunedModel.save writes into model.json, and that the file loads back."""
    ft = FinetunedModel(
        ResNet1DEncoder(TINY_ENCODER), task_type="regression", target_mean=2.0, target_std=3.0,
        head_hidden=4, info={"config": {"epochs": 1}, "label_names": None},
    )  # fmt: skip
    folder = hub.save_model(tmp_path / "r", ft)
    meta = json.loads((folder / "model.json").read_text())
    assert meta["kind"] == "finetuned" and meta["architecture"]["head_hidden"] == 4
    assert meta["target_mean"] == 2.0 and meta["config"] == {"epochs": 1}
    assert "step" not in meta and "environment" in meta
    np.testing.assert_allclose(relcon.load(folder).predict(X), ft.predict(X))


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\xff\xfe"])
def test_damaged_descriptions_and_manifests_name_the_file(tmp_path, text):
    """A model.json or corpus.json that is not a JSON object is a ValueError naming the file
    (a JSON list used to reach ``.get`` and fail with an AttributeError in the corpus)."""
    from relcon.data.corpus import Corpus

    desc = tmp_path / "model" / "model.json"
    desc.parent.mkdir()
    (desc.parent / "model.safetensors").write_bytes(b"")
    manifest = tmp_path / "corpus" / "corpus.json"
    manifest.parent.mkdir()
    for path in (desc, manifest):
        path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=re.escape(str(desc)) + ".*model description"):
        hub.read_description(desc.parent)
    with pytest.raises(ValueError, match=re.escape(str(manifest)) + ".*corpus manifest"):
        Corpus.open(manifest.parent)
    desc.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(desc))):
        hub.read_description(desc.parent)
