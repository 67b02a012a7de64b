"""The public API type-checks the way users write it (mypy --strict on a usage file)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

# mypy on openai's types takes ~20 s of CPU: on a loaded machine that passed the suite's
# 60 s per-test timeout. The work is fixed; only the clock is generous.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(autouse=True)
def _restore_the_recursion_limit() -> Iterator[None]:
    """mypy's main raises ``sys.setrecursionlimit`` to 2**14 and leaves it: json.loads would
    then parse nesting that later tests rely on it refusing (test_hostile_input)."""
    limit = sys.getrecursionlimit()
    yield
    sys.setrecursionlimit(limit)


USAGE = Path(__file__).parent / "typing" / "usage.py"
OPENAI_USAGE = Path(__file__).parent / "typing" / "openai_usage.py"
README = Path(__file__).parent.parent / "README.md"


def test_usage_type_checks_strictly() -> None:
    stdout, stderr, status = mypy_api.run(["--strict", "--no-incremental", "--cache-dir=/dev/null", str(USAGE)])
    assert status == 0, stdout + stderr


def test_openai_typed_code_type_checks_strictly() -> None:
    """openai's own TypedDicts (tools, response formats, messages), tuples for ``stop``,
    Mappings, ``openai.NOT_GIVEN`` / ``omit`` and the helpers' generics pass."""
    stdout, stderr, status = mypy_api.run(["--strict", "--no-incremental", "--cache-dir=/dev/null", str(OPENAI_USAGE)])
    assert status == 0, stdout + stderr


def test_readme_quick_start_type_checks(tmp_path: Path) -> None:
    text = README.read_text()
    start = text.index("## Quick start")
    block = text[text.index("```python\n", start) + len("```python\n") :]
    quick_start = tmp_path / "quick_start.py"
    quick_start.write_text(block[: block.index("```")])
    stdout, stderr, status = mypy_api.run(["--strict", "--no-incremental", "--cache-dir=/dev/null", str(quick_start)])
    assert status == 0, stdout + stderr


def test_a_misspelled_attribute_is_a_type_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import fastrouter\ndef f(resp: fastrouter.ChatCompletion) -> None:\n    print(resp.choices[0].mesage)\n"
    )
    stdout, _, status = mypy_api.run(["--strict", "--no-incremental", "--cache-dir=/dev/null", str(bad)])
    assert status == 1
    assert "mesage" in stdout
