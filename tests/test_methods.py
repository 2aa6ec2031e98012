"""The table of training methods (relcon.train.methods.METHODS) and everything that lists them.

A method is one entry of the table; its training is tested in tests/test_baselines.py (every
baseline of the table) and tests/test_training.py (RelCon).
"""

import dataclasses
import re
from pathlib import Path

import pytest
from torch import nn

from relcon.cli import main
from relcon.config import PretrainConfig
from relcon.eval.suite import BenchmarkConfig
from relcon.train.methods import BASELINES, METHODS, Method

DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _method_field() -> dataclasses.Field:
    return next(f for f in dataclasses.fields(PretrainConfig) if f.name == "method")


def test_the_config_offers_the_methods_of_the_table():
    # config.py (core layer) cannot import the table (train layer): its choices are a copy
    assert tuple(_method_field().metadata["choices"]) == tuple(METHODS)
    assert PretrainConfig().method == next(iter(METHODS)) == "relcon"
    assert BASELINES == tuple(m for m in METHODS if m != "relcon")
    assert BenchmarkConfig().baselines == list(BASELINES)


@pytest.mark.parametrize("name", list(METHODS))
def test_each_entry_is_consistent(name):
    spec = METHODS[name]
    assert isinstance(spec, Method) and spec.name == name
    assert spec.description and "\n" not in spec.description
    assert spec.needs_distance == spec.takes("distance")  # the loop loads it for these only
    if spec.head is not None:
        head = spec.head(16, 4)
        assert isinstance(head, nn.Module) and sum(p.numel() for p in head.parameters()) > 0


def test_arguments_pick_the_steps_own_keywords_and_name_what_is_missing():
    relcon, simclr = METHODS["relcon"], METHODS["simclr"]
    everything = {"pool": 1, "distance": 2, "tau": 0.1, "seed": 0, "n_augment": 2, "other": 3}
    assert simclr.arguments(everything) == {"seed": 0, "n_augment": 2, "tau": 0.1}
    # relcon's seed draws its anchor copies (anchor_copy)
    assert relcon.arguments(everything) == {"pool": 1, "distance": 2, "tau": 0.1, "seed": 0}
    with pytest.raises(TypeError, match=r"relcon's step needs \['pool', 'distance'\]"):
        relcon.arguments({"tau": 0.1})


def test_the_help_and_the_docs_name_every_method(capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    assert "{" + ",".join(METHODS) + "}" in capsys.readouterr().out
    row = next(
        line for line in DOCS.read_text().splitlines() if "| the training objective |" in line
    )
    assert re.findall(r"`(\w+)`", row.split("|")[3]) == list(METHODS)
