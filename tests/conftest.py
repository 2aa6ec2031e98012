"""Fixtures and settings shared by the test files: the real data sets, tiny models, demo windows.

The real data sets are found through ``$RELCON_DATA`` or, failing that, a ``shared/data``
folder above the test folder (the package itself never looks there: :mod:`relcon` reads data
from an explicit root or ``$RELCON_DATA`` only). Tests that need them skip with a reason when
they are absent. :data:`TINY_ENCODER` and :data:`TINY_DISTANCE` are the small models the tests
train (``from conftest import TINY_ENCODER``).

Tests marked ``@pytest.mark.slow`` are skipped unless the marker is selected (``pytest -m slow``
or any ``-m`` expression that names it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from relcon.config import DataConfig, EncoderConfig, MotifDistanceConfig
from relcon.data.datasets import DATA_ROOT_ENV, load_segments
from relcon.data.windowing import Segments

#: The smallest encoder the tests train: two stages of one block each (8 and 16 filters).
TINY_ENCODER = EncoderConfig(
    stage_blocks=(1, 1), stage_filters=(8, 16), stage_kernels=(3, 3), stem_filters=8
)
#: The smallest motif distance the tests train.
TINY_DISTANCE = MotifDistanceConfig(channels=16, bottleneck=4, n_layers=1)


def find_data_root() -> Path | None:
    """``$RELCON_DATA``, else the first ``shared/data`` folder above this file, else None."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    for folder in Path(__file__).resolve().parents:
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return None


# --------------------------------------------------------------------------------------------
# the slow marker
# --------------------------------------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow test: run it with `pytest -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding the real data sets (skips the test when there is none)."""
    root = find_data_root()
    if root is None or not root.is_dir():
        pytest.skip(f"real data sets not available (no shared/data folder or ${DATA_ROOT_ENV})")
    return root


@pytest.fixture(scope="session")
def real_data_dir(data_root: Path) -> Callable[[str], Path]:
    """``real_data_dir(name)``: the folder of one real data set (skips the test when absent)."""

    def get(name: str) -> Path:
        if not (data_root / name).is_dir():
            pytest.skip(f"real data set {name!r} not available in {data_root}")
        return data_root / name

    return get


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared machine: one intra-op thread is many times faster than two."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def demo_segments() -> Segments:
    """Every window of the bundled WISDM demo data (46 users); subset it, never modify it."""
    return load_segments(DataConfig(source="demo"))


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder holding a tiny encoder with fixed random weights (seed 0)."""
    import torch

    from relcon.models.encoder import ResNet1DEncoder
    from relcon.models.hub import save_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("encoder")
    save_model(folder, ResNet1DEncoder(TINY_ENCODER), "encoder", step=0)
    return folder


def kill_after(monkeypatch: pytest.MonkeyPatch, module, at_step: int) -> None:
    """Make ``module.save_checkpoint`` raise KeyboardInterrupt right after writing the checkpoint
    of step ``at_step`` (a run interrupted there, its checkpoint on disk)."""
    real = module.save_checkpoint

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        if kwargs["step"] == at_step:
            raise KeyboardInterrupt

    monkeypatch.setattr(module, "save_checkpoint", save_then_die)
