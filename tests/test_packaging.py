"""The license text in the repository, the wheel and the sdist."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel and the sdist with hatchling into a new directory."""
    output = tmp_path_factory.mktemp("dist")
    # The command line is fixed: this interpreter and hatchling's build command.
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "hatchling", "build", "-d", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return output


def test_license_is_mit_text() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")

    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The anybreaker developers\n" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_wheel_contains_license(dist_dir: Path) -> None:
    [wheel] = dist_dir.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata_text = archive.read(metadata).decode("utf-8")

    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "License-Expression: MIT\n" in metadata_text
    assert "License-File: LICENSE\n" in metadata_text


def test_sdist_contains_license(dist_dir: Path) -> None:
    [sdist] = dist_dir.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()

    assert any(name.count("/") == 1 and name.endswith("/LICENSE") for name in names)
