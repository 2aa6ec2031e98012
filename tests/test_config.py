"""Configuration dataclasses round-trip through TOML, YAML and JSON."""

import pytest

from relcon.config import (
    DataConfig,
    DemoConfig,
    DistanceTrainConfig,
    EncoderConfig,
    PretrainConfig,
    from_dict,
    load_config,
    save_config,
    to_dict,
)


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
@pytest.mark.parametrize("cls", [PretrainConfig, DistanceTrainConfig, DemoConfig])
def test_round_trip(tmp_path, suffix, cls):
    cfg = cls()
    if isinstance(cfg, PretrainConfig):
        cfg.encoder = EncoderConfig(
            stage_blocks=(2, 2), stage_filters=(8, 16), stage_kernels=(3, 3)
        )
        cfg.data = DataConfig(source="wisdm_watch", users=["1600", "1601"], block_seconds=900.0)
        cfg.between_user = 7
    path = tmp_path / f"c{suffix}"
    save_config(cfg, path)
    assert load_config(path, cls) == cfg


def test_partial_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("steps = 7\n[encoder]\nstem_filters = 16\n")
    base = PretrainConfig(batch_size=5, encoder=EncoderConfig(stage_filters=(32, 64, 128)))
    cfg = load_config(path, PretrainConfig, base=base)
    assert cfg.steps == 7 and cfg.batch_size == 5
    assert cfg.encoder.stem_filters == 16 and cfg.encoder.stage_filters == (32, 64, 128)


def test_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("stepz = 3\n")
    with pytest.raises(ValueError, match=r"bad\.toml.*stepz"):
        load_config(bad, PretrainConfig)
    bad.write_text('steps = "many"\n')
    with pytest.raises(ValueError, match=r"steps"):
        load_config(bad, PretrainConfig)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.toml", PretrainConfig)
    other = tmp_path / "c.ini"
    other.write_text("x")
    with pytest.raises(ValueError, match="format"):
        load_config(other, PretrainConfig)


def test_to_dict_from_dict_inverse():
    cfg = DemoConfig()
    assert from_dict(DemoConfig, to_dict(cfg)) == cfg
