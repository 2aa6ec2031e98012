"""Training loops: they learn, they log, and a killed run resumes exactly where it stopped."""

import csv
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import relcon.train.distance as distance_mod
import relcon.train.relcon as pretrain_mod
from conftest import TINY_DISTANCE, TINY_ENCODER, kill_after
from relcon.config import DistanceTrainConfig, EncoderConfig, PretrainConfig
from relcon.models.encoder import cpu_has_bf16
from relcon.train.checkpoint import save_checkpoint
from relcon.train.common import scoring_dtype


@pytest.fixture(scope="module")
def segs(demo_segments):
    s = demo_segments
    users = np.unique(s.user)[:6]
    keep = np.flatnonzero(np.isin(s.user, users))[::4]  # a quarter of 6 users' windows
    return s.subset(keep)


def _dist_cfg(steps=6):
    return DistanceTrainConfig(
        architecture=TINY_DISTANCE,
        steps=steps,
        batch_size=8,
        log_every=1,
        ckpt_every=3,
        warmup_steps=2,
    )


def _pre_cfg(distance, steps=6):
    return PretrainConfig(
        distance=str(distance), encoder=TINY_ENCODER, steps=steps, batch_size=4, within_user=3,
        log_every=1, ckpt_every=3, warmup_steps=2,
    )  # fmt: skip


def _weights(run):
    return load_file(str(run / "model.safetensors"))


def test_distance_training_resumes_exactly(tmp_path, segs, monkeypatch):
    straight = distance_mod.train_distance(
        _dist_cfg(), tmp_path / "a", segments=segs, progress=False
    )
    kill_after(monkeypatch, distance_mod, 3)
    with pytest.raises(KeyboardInterrupt):
        distance_mod.train_distance(_dist_cfg(), tmp_path / "b", segments=segs, progress=False)
    assert not (tmp_path / "b/model.safetensors").exists()
    monkeypatch.setattr(distance_mod, "save_checkpoint", save_checkpoint)
    with pytest.raises(FileExistsError, match="--resume"):
        distance_mod.train_distance(_dist_cfg(), tmp_path / "b", segments=segs, progress=False)
    resumed = distance_mod.train_distance(
        _dist_cfg(), tmp_path / "b", resume=True, segments=segs, progress=False
    )
    wa, wb = _weights(straight), _weights(resumed)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
    with (tmp_path / "b/metrics.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == [1, 2, 3, 4, 5, 6]  # no step logged twice after the resume


def test_pretraining_resumes_exactly_and_records_users(tmp_path, segs, monkeypatch):
    dist = distance_mod.train_distance(
        _dist_cfg(steps=2), tmp_path / "d", segments=segs, progress=False
    )
    straight = pretrain_mod.pretrain(_pre_cfg(dist), tmp_path / "a", segments=segs, progress=False)
    kill_after(monkeypatch, pretrain_mod, 3)
    with pytest.raises(KeyboardInterrupt):
        pretrain_mod.pretrain(_pre_cfg(dist), tmp_path / "b", segments=segs, progress=False)
    monkeypatch.setattr(pretrain_mod, "save_checkpoint", save_checkpoint)
    resumed = pretrain_mod.pretrain(
        _pre_cfg(dist), tmp_path / "b", resume=True, segments=segs, progress=False
    )
    wa, wb = _weights(straight), _weights(resumed)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
    import json

    meta = json.loads((resumed / "model.json").read_text())
    assert meta["train_users"] == sorted(set(segs.user))
    assert meta["config"]["steps"] == 6 and meta["kind"] == "encoder"
    assert (resumed / "config.toml").is_file() and any((resumed / "tb").iterdir())


def test_pretraining_loss_goes_down(tmp_path, segs):
    dist = distance_mod.train_distance(
        _dist_cfg(steps=2), tmp_path / "d", segments=segs, progress=False
    )
    cfg = _pre_cfg(dist, steps=30)
    cfg.lr, cfg.ckpt_every = 3e-3, 100
    run = pretrain_mod.pretrain(cfg, tmp_path / "p", segments=segs, progress=False)
    with (run / "metrics.csv").open() as f:
        loss = np.array([float(r["loss"]) for r in csv.DictReader(f)])
    assert loss[-10:].mean() < loss[:5].mean()


def test_bf16_scoring_keeps_the_ranking_and_the_loss():
    """On a CPU with native bf16, ``precision="auto"`` scores candidates in bf16: the distances move by well
    under 1 %, so the loss (which only uses their order) barely changes."""
    from relcon.models.distance import MotifDistance
    from relcon.models.encoder import ResNet1DEncoder

    torch.manual_seed(0)
    b, k = 6, 4
    t = torch.linspace(0, 2.56, 256)
    freq = torch.rand(b + b * k, 1, 1) * 2 + 0.5
    pool = torch.sin(2 * torch.pi * freq * t[None, :, None] + torch.rand(b + b * k, 1, 3) * 6)
    pool = 0.3 * pool + torch.tensor([0.0, 0.0, 1.0])
    cand = pretrain_mod.candidate_index(b, k, b - 1)
    distance = MotifDistance(channels=16, bottleneck=4).eval()
    encoder = ResNet1DEncoder(
        EncoderConfig(
            stage_blocks=(1, 1), stage_filters=(8, 16), stage_kernels=(3, 3), stem_filters=8
        )
    )
    with torch.no_grad():
        d32 = distance.score(pool[:b], pool, cand)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            d16 = distance.score(pool[:b], pool, cand).float()
    # the ranking itself: every anchor orders its candidates as the fp32 eager path does
    assert torch.equal(d16.argsort(dim=1), d32.argsort(dim=1))
    assert not torch.equal(d16, d32)  # bf16 did run: the distances themselves moved
    assert ((d16 - d32).abs() / d32).max() < 0.02
    loss32 = pretrain_mod.relcon_batch_loss(encoder, distance, pool, cand, 0.1)
    loss16 = pretrain_mod.relcon_batch_loss(
        encoder, distance, pool, cand, 0.1, None, torch.bfloat16
    )
    assert loss16.dtype == torch.float32 and torch.isfinite(loss16)
    assert abs(loss16.item() - loss32.item()) < 0.02 * abs(loss32.item())
    dev = torch.device("cpu")
    assert scoring_dtype(dev, "fp32") is None
    assert scoring_dtype(dev, "bf16") is torch.bfloat16
    expect = torch.bfloat16 if cpu_has_bf16() else None
    assert scoring_dtype(dev, "auto") is expect


def test_time_limit_stops_and_saves_and_oracle_teacher_trains(tmp_path, segs):
    dist = distance_mod.train_distance(
        _dist_cfg(steps=2), tmp_path / "d", segments=segs, progress=False
    )
    # max_seconds = 1 ns: the limit is checked before every step and is already past, so
    # nothing is trained (0 itself is refused as a setting that makes no sense)
    stopped = pretrain_mod.pretrain(
        PretrainConfig(**{**_pre_cfg(dist).__dict__, "max_seconds": 1e-9}),
        tmp_path / "stopped", segments=segs, progress=False,
    )  # fmt: skip
    assert json.loads((stopped / "model.json").read_text())["step"] == 0
    oracle = pretrain_mod.pretrain(
        PretrainConfig(**{**_pre_cfg(dist, steps=3).__dict__, "teacher": "oracle"}),
        tmp_path / "oracle", segments=segs, progress=False,
    )  # fmt: skip
    assert json.loads((oracle / "model.json").read_text())["step"] == 3
    unlabelled = segs.subset(np.arange(len(segs)))
    unlabelled.label[:] = -1
    with pytest.raises(ValueError, match="no window is labelled"):
        pretrain_mod.pretrain(
            PretrainConfig(**{**_pre_cfg(dist).__dict__, "teacher": "oracle"}),
            tmp_path / "none", segments=unlabelled, progress=False,
        )  # fmt: skip
    with pytest.raises(ValueError, match="teacher must be one of"):
        pretrain_mod.pretrain(
            PretrainConfig(**{**_pre_cfg(dist).__dict__, "teacher": "labels"}),
            tmp_path / "bad", segments=segs, progress=False,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# the candidate pool and the run-folder lock
# --------------------------------------------------------------------------------------------
def test_candidate_pool_layout():
    from relcon.data.sampling import CandidateBatch
    from relcon.train.steps import CandidatePool

    p = CandidatePool(batch_size=3, within_user=2, between_user=1)
    assert p.size == 9
    # anchor i: between-user = anchor i+1 (mod 3); within-user = pool rows 3 + 2i, 3 + 2i + 1
    assert p.index.tolist() == [[1, 3, 4], [2, 5, 6], [0, 7, 8]]
    assert CandidatePool(4, 1).between_user == 3  # None: every other anchor
    batch = CandidateBatch(0, 0, np.array([10, 20, 30]), np.array([[11, 12], [21, 22], [31, 32]]))
    assert p.window_ids(batch).tolist() == [10, 20, 30, 11, 12, 21, 22, 31, 32]
    a, w = torch.zeros(3, 256, 3), torch.ones(6, 256, 3)
    assert p.assemble(a, w, torch.device("cpu")).shape == (9, 256, 3)
    with pytest.raises(ValueError, match="between_user must be in"):
        CandidatePool(3, 2, 3)


HOLD_LOCK = """
import sys, time
from relcon.train.common import lock_run_dir
lock_run_dir(sys.argv[1])
print("locked", flush=True)
time.sleep(600)
"""


def test_run_folder_lock_refuses_a_second_process_until_the_first_dies(tmp_path, segs):
    """Issue 15: two processes writing one run folder. The first holds the lock as every training
    command does; a second, real process (the CLI) is refused with the folder and the holder's
    pid, and so is every loop in this process; once the holder is killed (-9) the lock is gone."""
    import subprocess
    import sys

    from relcon.train.baselines import pretrain_baseline
    from relcon.train.common import LOCK_FILE, RunFolderLocked, lock_run_dir

    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = subprocess.run(
            [sys.executable, "-m", "relcon", "train-distance", "--out", str(out), "--steps", "1",
             "--device", "cpu", "--no-progress"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 2, r.stderr
        assert f"relcon: error: {out} is in use by another relcon process (pid {holder.pid}" in (
            r.stderr
        )
        assert not (out / "config.toml").exists()  # refused before writing anything
        for train in (
            lambda: distance_mod.train_distance(_dist_cfg(), out, segments=segs, progress=False),
            lambda: pretrain_mod.pretrain(_pre_cfg(out), out, segments=segs, progress=False),
            lambda: pretrain_baseline("simclr", _pre_cfg(out), out, segments=segs),
        ):
            with pytest.raises(RunFolderLocked, match=rf"pid {holder.pid} on "):
                train()
    finally:
        holder.kill()
        holder.wait()
    lock_run_dir(out).release()  # the kernel dropped the dead holder's lock
    run = distance_mod.train_distance(_dist_cfg(steps=1), out, segments=segs, progress=False)
    again = distance_mod.train_distance(
        _dist_cfg(steps=1), out, overwrite=True, segments=segs, progress=False
    )  # --overwrite deletes what the run wrote; the finished run removes its lock file
    assert run == again and not (out / LOCK_FILE).exists() and (out / "model.safetensors").is_file()
