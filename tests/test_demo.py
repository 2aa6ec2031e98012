"""``relcon demo`` is reproducible: the same seed on the same machine gives the same numbers."""

import json

from relcon.apps.demo import run_demo


def test_quick_demo_twice_gives_identical_results(tmp_path):
    """Two quick demos from the same seed, one after the other in one process: every score,
    weight-derived or not, is bit-identical (seeded data split, sampler, augmentations and
    initialisation; fp32 embeddings for the probe). Other machines may differ in the last
    digits (thread counts, bf16 support); README says so."""
    a = run_demo(tmp_path / "a", quick=True, progress=False)
    b = run_demo(tmp_path / "b", quick=True, progress=False)
    assert a["rows"] == b["rows"]
    assert a["task"] == b["task"]
    la = (tmp_path / "a" / "relcon" / "metrics.csv").read_text().splitlines()
    lb = (tmp_path / "b" / "relcon" / "metrics.csv").read_text().splitlines()
    loss = [line.split(",")[1] for line in la[1:]]
    assert loss == [line.split(",")[1] for line in lb[1:]] and loss
    assert json.loads(json.dumps(a["rows"]))  # plain JSON values
