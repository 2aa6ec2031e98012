"""``relcon bench``: a tiny CPU run has the documented structure and sane numbers."""

import json
import math
import statistics

import pytest

from relcon.apps.speed import (
    MEASUREMENTS,
    BenchConfig,
    add_bench_arguments,
    format_table,
    gpu_model,
    run_bench,
)
from relcon.config import EncoderConfig, MotifDistanceConfig, from_dict, to_dict

TINY_ENC = EncoderConfig(
    stage_blocks=(1, 1), stage_filters=(32, 64), stage_kernels=(3, 3), stem_filters=16
)
TINY_DIST = MotifDistanceConfig(channels=8, bottleneck=4, n_layers=1, kernel_size=5)
ROWS = (
    "loader",
    "distance_train",
    "scoring",
    "full_step",
    "encoder_fwd_bwd",
    "step_over_encoder",
    "embedding",
)


def _tiny(**kw) -> BenchConfig:
    base = dict(
        device="cpu", batch_size=4, within_user=2, between_user=2, steps=4, warmup=1,
        encoder_config=TINY_ENC, distance_config=TINY_DIST, distance_batch_size=8,
        embed_batch_size=16, precision="fp32",
    )  # fmt: skip
    return BenchConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def results():
    return run_bench(_tiny())


def test_structure_and_json(results):
    assert results["format"] == "relcon-bench/1"
    assert results["device"]["type"] == "cpu" and results["device"]["name"]
    assert results["device"]["peak_tflops"] is None  # no MFU without a known GPU
    assert results["torch"]
    settings = results["settings"]
    assert settings["batch_size"] == 4 and settings["steps"] == 4
    assert settings["within_user"] == 2 and settings["between_user"] == 2
    assert settings["encoder"] == "custom"
    # the settings are a BenchConfig again, and the whole result survives JSON
    assert to_dict(from_dict(BenchConfig, settings)) == settings
    assert json.loads(json.dumps(results)) == results
    assert results["derived"]["pool_segments_per_step"] == 4 * 3
    assert results["derived"]["pairs_scored_per_step"] == 4 * 4
    assert list(results["measurements"]) == list(ROWS)


def test_every_measurement_positive_and_finite(results):
    for name, row in results["measurements"].items():
        assert math.isfinite(row["value"]) and row["value"] > 0, name
        assert row["unit"] and row["status"] in ("PASS", "MISS", "n/a"), name
        assert "target" in row and "mfu" in row, name
        if name == "step_over_encoder":
            continue
        assert len(row["seconds_all"]) == 4, name
        assert all(math.isfinite(s) and s > 0 for s in row["seconds_all"]), name
        assert row["peak_memory_bytes"] > 0, name
        assert row["peak_memory_scope"].startswith("rss"), name
        for unit, rate in row["rates"].items():
            assert math.isfinite(rate) and rate > 0, (name, unit)
        if name != "loader":
            assert row["model_flops_per_iteration"] > 0, name
            assert row["achieved_tflops"] > 0, name
    flops = results["derived"]["model_flops"]
    assert all(v > 0 for v in flops.values()), flops


def _textbook_encoder_flops(c: EncoderConfig, length: int = 256) -> tuple[int, int]:
    """FLOPs of one window through the encoder by the textbook formula, ``2 * C_in * C_out * K *
    L_out`` per convolution (a multiply and an add per weight and output sample; BatchNorm,
    ReLU, pooling and biases not counted): ``(forward, stem)``."""
    length = (length - c.stem_kernel) // c.stem_stride + 1  # stem: no padding
    stem = 2 * c.in_channels * c.stem_filters * c.stem_kernel * length
    length = (length - c.pool_kernel) // c.pool_stride + 1  # max pool
    total, c_in = stem, c.stem_filters
    for blocks, c_out, k in zip(c.stage_blocks, c.stage_filters, c.stage_kernels, strict=True):
        for _ in range(blocks):  # two "same" convolutions and, where channels change, a 1x1
            total += 2 * c_in * c_out * k * length + 2 * c_out * c_out * k * length
            total += 2 * c_in * c_out * length if c_in != c_out else 0
            c_in = c_out
    return total, stem


def test_model_flops_match_the_textbook_formula(results):
    """The encoder's FLOPs per window are the textbook count of its convolutions; a backward
    pass costs two forwards (input and weight gradients) except the stem's input gradient,
    which is not needed. Each row's FLOPs are those per window times the windows it runs."""
    forward, stem = _textbook_encoder_flops(TINY_ENC)
    assert forward == 3_258_400  # the tiny encoder, worked by hand once
    flops = results["derived"]["model_flops"]
    assert flops["encoder_fwd_per_segment"] == forward
    assert flops["encoder_fwd_bwd_per_segment"] == 3 * forward - stem
    ms = results["measurements"]
    pool = 4 * (1 + 2)  # B anchors and K within-user candidates each
    assert ms["encoder_fwd_bwd"]["model_flops_per_iteration"] == (3 * forward - stem) * pool
    n_embedded = ms["embedding"]["windows_per_timed_iteration"]
    assert ms["embedding"]["model_flops_per_iteration"] == forward * n_embedded
    # a step is the encoder's forward and backward over the pool plus the candidate scoring
    step = ms["full_step"]["model_flops_per_iteration"]
    assert step - ms["encoder_fwd_bwd"]["model_flops_per_iteration"] == pytest.approx(
        ms["scoring"]["model_flops_per_iteration"]
    )
    for name, row in ms.items():  # achieved = FLOPs per iteration / median seconds
        if row.get("model_flops_per_iteration"):
            expect = row["model_flops_per_iteration"] / row["seconds"] / 1e12
            assert row["achieved_tflops"] == pytest.approx(expect), name


def test_rates_are_the_counted_work_per_median_second(results):
    """Each rate times the row's median time is the work of one iteration, counted from the
    settings (B=4 anchors, B*(1+K)=12 windows encoded, B*(K+m)=16 pairs scored)."""
    ms = results["measurements"]
    for name, row in ms.items():
        if row["seconds_all"]:  # not the ratio (d)/(f), which has no time of its own
            assert row["seconds"] == statistics.median(row["seconds_all"]), name
    ratio = ms["full_step"]["seconds"] / ms["encoder_fwd_bwd"]["seconds"]
    assert ms["step_over_encoder"]["value"] == pytest.approx(ratio)
    work = {
        ("full_step", "anchors/s"): 4,
        ("full_step", "segments/s"): 12,
        ("encoder_fwd_bwd", "segments/s"): 12,
        ("scoring", "anchors/s"): 4,
        ("scoring", "pairs/s"): 16,
        ("distance_train", "segments/s"): 8,  # distance_batch_size
        ("embedding", "segments/s"): ms["embedding"]["windows_per_timed_iteration"],
    }
    for (name, unit), count in work.items():
        assert ms[name]["rates"][unit] * ms[name]["seconds"] == pytest.approx(count), (name, unit)
    assert ms["full_step"]["value"] == ms["full_step"]["rates"]["anchors/s"]


def test_pairs_scored_counted_by_a_plain_loop(monkeypatch):
    """(c) scores every anchor against its K within-user candidates (its own pool rows) and m
    other anchors, once per warm-up and timed iteration: the pairs recorded from every call of
    MotifDistance.score are those of a plain loop over the anchors."""
    from relcon.models.distance import MotifDistance

    calls: list[list[list[int]]] = []
    real = MotifDistance.score

    def recorded(self, anchor, pool, index, *args, **kwargs):
        calls.append(index.tolist())
        return real(self, anchor, pool, index, *args, **kwargs)

    monkeypatch.setattr(MotifDistance, "score", recorded)
    b, k, m = 5, 3, 2
    r = run_bench(
        _tiny(only=["scoring"], batch_size=b, within_user=k, between_user=m, steps=2, warmup=1)
    )
    # the FLOP count scores one anchor first (1 and 2 pairs); then warm-up + timed iterations
    assert calls[:2] == [[[0]], [[0, 0]]]
    calls = calls[2:]
    assert len(calls) == 1 + 2
    expected_pairs = 0
    for anchor in range(b):
        within = {b + anchor * k + j for j in range(k)}
        for index in calls:
            row = index[anchor]
            assert len(row) == len(set(row)) == k + m  # no candidate twice
            assert within <= set(row)  # all of its own within-user windows
            others = set(row) - within
            assert len(others) == m and anchor not in others and others <= set(range(b))
        expected_pairs += k + m
    assert expected_pairs == 25
    assert r["derived"]["pairs_scored_per_step"] == expected_pairs
    counts = r["measurements"]["scoring"]["scoring_counts"]
    assert counts["pairs"] == sum(len(row) for index in calls for row in index) == 3 * 25
    assert r["measurements"]["scoring"]["rates"]["pairs/s"] * r["measurements"]["scoring"][
        "seconds"
    ] == pytest.approx(expected_pairs)


def test_step_breakdown_names_every_part(results):
    """The step's breakdown names each stage, each with a time measured (no comparison of
    wall-clock times between rows: under load they are not ordered)."""
    bd = results["measurements"]["full_step"]["breakdown_s"]
    assert set(bd) == {"data", "scoring", "encoder_forward", "loss", "backward", "optimizer"}
    assert all(math.isfinite(v) and v >= 0 for v in bd.values()), bd
    assert bd["scoring"] > 0 and bd["encoder_forward"] > 0 and bd["backward"] > 0


def test_targets_on_cpu(results):
    ms = results["measurements"]
    for name in ("full_step", "scoring", "distance_train", "embedding"):
        assert ms[name]["status"] == "n/a", name  # GPU targets
        assert ">=" in ms[name]["target_text"]
    assert ms["step_over_encoder"]["target"] == {"op": "<=", "value": 1.25, "unit": "x"}
    # the documented loader target: twice the step's anchors/s
    assert ms["loader"]["target"]["value"] == pytest.approx(2 * ms["full_step"]["value"])
    assert ms["encoder_fwd_bwd"]["target"] is None
    # PASS exactly where a target for this device is met, MISS where it is not
    for name in ("step_over_encoder", "loader"):
        row, target = ms[name], ms[name]["target"]
        met = (
            row["value"] <= target["value"]
            if target["op"] == "<="
            else row["value"] >= target["value"]
        )
        assert row["status"] == ("PASS" if met else "MISS"), name


def test_format_table_lists_every_measurement(results):
    table = format_table(results)
    for label in (
        "(a) loader",
        "(b) distance training",
        "(c) candidate scoring",
        "(d) full pretraining step",
        "(f) encoder fwd+bwd",
        "(d)/(f) step / encoder",
        "(e) embedding",
    ):
        assert label in table
    assert "B=4 anchors, K=2 within-user, m=2 between-user" in table
    assert "scoring" in table.split("full step, median per phase")[1]
    assert format_table(json.loads(json.dumps(results))) == table


def test_only_and_clipping():
    r = run_bench(_tiny(only=["scoring"], between_user=63, steps=1, warmup=0))
    assert list(r["measurements"]) == ["scoring"]
    assert r["settings"]["between_user"] == 3  # at most B - 1
    assert any("clipped" in n for n in r["notes"])
    with pytest.raises(ValueError, match="unknown measurement"):
        run_bench(_tiny(only=["nope"]))


def test_gpu_names():
    assert gpu_model("NVIDIA H100 80GB HBM3") == "H100 SXM"
    assert gpu_model("NVIDIA H100 PCIe") == "H100 PCIe"
    assert gpu_model("NVIDIA H100 NVL") == "H100 NVL"
    assert gpu_model("NVIDIA H200") == "H200 SXM"
    assert gpu_model("NVIDIA GH200 480GB") == "GH200"
    assert gpu_model("NVIDIA A100-SXM4-80GB") == "A100"
    assert gpu_model("Tesla T4") is None


def test_cli_flags():
    import argparse

    from relcon.flags import resolve_config

    p = argparse.ArgumentParser()
    add_bench_arguments(p)
    args = p.parse_args(["--device", "cuda", "--compile", "--corpus", "c", "--only", "loader"])
    cfg = resolve_config(BenchConfig, BenchConfig(), args)
    assert (cfg.device, cfg.compile, cfg.corpus, cfg.only) == ("cuda", True, "c", ["loader"])
    assert cfg.batch_size is None and cfg.within_user == 20 and cfg.between_user == 63
    assert set(MEASUREMENTS) >= set(cfg.only)


def test_bench_times_the_training_step_functions(monkeypatch):
    """Issue 11: (b), (c) and (d) call the step functions of relcon.train.steps that the training
    loops run (no copies of the step bodies): once per warm-up and timed iteration."""
    import relcon.train.steps as steps

    calls: dict[str, int] = {}
    for name in ("distance_step", "relcon_step", "score_candidates"):
        real = getattr(steps, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(steps, name, counted)
    run_bench(_tiny(only=["distance_train", "scoring", "full_step"], steps=2, warmup=1))
    # relcon_step scores through score_candidates too: 3 steps + 3 scoring iterations
    assert calls == {"distance_step": 3, "relcon_step": 3, "score_candidates": 6}


def test_embed_precision():
    """``embed(precision=...)``: fp32 (the default), bf16 autocast, and "auto" (bf16 only on a CPU
    with native bf16); the output is float32 and close to fp32's either way."""
    import numpy as np

    from relcon.models.encoder import ResNet1DEncoder, cpu_has_bf16, resolve_precision

    enc = ResNet1DEncoder(TINY_ENC)
    x = np.random.default_rng(0).normal(size=(7, 256, 3)).astype(np.float32)
    z32 = enc.embed(x, precision="fp32")
    np.testing.assert_array_equal(enc.embed(x), z32)
    z16 = enc.embed(x, precision="bf16")
    assert z32.dtype == z16.dtype == np.float32 and not np.array_equal(z32, z16)
    assert np.abs(z16 - z32).max() < 0.05 * np.abs(z32).max()
    auto = enc.embed(x, precision="auto")
    np.testing.assert_array_equal(auto, z16 if cpu_has_bf16() else z32)
    assert resolve_precision("auto", "cuda") == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        enc.embed(x, precision="fp16")


def test_embed_end_to_end_stage(tmp_path):
    """(g) "embed end to end" runs only when named, beside (e), and reports the file-to-Parquet
    rate, the model-only rate measured in the same run and their ratio; the windows it counts
    are the recording's: 0.02 h at 100 Hz = 72 s = 28 whole 2.56 s windows."""
    from relcon.apps.speed_embed import synthetic_recording

    assert "embed_end_to_end" not in run_bench(_tiny(only=None, steps=1))["measurements"]
    rec = synthetic_recording(tmp_path, hours=0.02)
    r = run_bench(
        _tiny(only=["embedding", "embed_end_to_end"], steps=1, embed_model="relcon-wrist-small",
              embed_recording=str(rec))
    )  # fmt: skip
    g = r["measurements"]["embed_end_to_end"]
    assert g["windows"] == int(72 // 2.56)
    rates = g["rates"]
    assert rates["windows/s"] == pytest.approx(g["windows"] / g["seconds"])
    assert rates["x model only"] == pytest.approx(
        rates["windows/s"] / rates["model-only windows/s"]
    )
    assert "(g) embed end to end" in format_table(r)
