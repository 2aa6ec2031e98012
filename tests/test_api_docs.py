"""The API reference (mkdocs + mkdocstrings, ``mkdocs.yml`` and ``docs/api.md``) builds in strict
mode: a symbol renamed or removed under a ``:::`` directive, or a docstring whose arguments no
longer match the signature, is a warning, and strict mode makes it an error (issue 21)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
    )


def test_api_reference_builds_in_strict_mode(tmp_path):
    r = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    log = r.stdout + r.stderr
    assert r.returncode == 0 and "WARNING" not in log, log
    page = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'id="(relcon[^"]*)"', page))
    for name in (
        "relcon.load",
        "relcon.ResNet1DEncoder.embed",
        "relcon.models.FinetunedModel.predict",
        "relcon.losses.relative_contrastive_loss",
        "relcon.apps.embed.embed_array",
        "relcon.apps.predict.predict_array",
    ):
        assert name in anchors, name


def test_a_missing_symbol_fails_the_build(tmp_path):
    """The same settings on a page naming a symbol that does not exist: the build fails."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "api.md").write_text("# API\n\n::: relcon.no_such_function\n", encoding="utf-8")
    config["docs_dir"] = str(docs)
    handler = config["plugins"][1]["mkdocstrings"]["handlers"]["python"]
    handler["paths"] = [str(ROOT / "src")]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    r = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert r.returncode != 0
    assert "relcon.no_such_function" in r.stdout + r.stderr
