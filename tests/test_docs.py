"""The docs site: every guide the issue asks for is in the nav, and ``mkdocs build --strict``
passes (the test extra installs the docs packages)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = [
    "streaming",
    "failover",
    "cost-and-budgets",
    "routing",
    "cascade",
    "limits-and-cache",
    "testing",
    "migrating-from-openai",
]


def test_every_guide_exists_and_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for guide in GUIDES:
        assert (ROOT / "docs" / "guides" / f"{guide}.md").is_file()
        assert f"guides/{guide}.md" in nav


def test_the_readme_links_the_docs() -> None:
    assert "docs/index.md" in (ROOT / "README.md").read_text()


@pytest.mark.timeout(400)  # ~10 s alone, several times that on a loaded machine; the build's own limit is 300 s
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "clients" / "index.html").is_file()
