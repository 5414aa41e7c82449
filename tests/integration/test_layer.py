"""What `sam build` puts in the shared layer: the packages its requirements resolve to for the Lambda runtime
(Python 3.13, arm64), asked of pip as sam build asks it (needs the package index, as `make test` does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def layer_packages(tmp_path: Path) -> dict[str, str]:
    report = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
            "--ignore-installed", "--only-binary=:all:", "--platform", "manylinux2014_aarch64",
            "--python-version", "3.13", "--implementation", "cp", "--report", str(report),
            "-r", str(ROOT / "layers" / "sf_edge" / "requirements.txt"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    installed = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in installed}


def test_the_layer_ships_boto3_and_botocore_as_a_pair(tmp_path: Path) -> None:
    """A layer comes before the runtime on Lambda's path: a botocore without its boto3 would be loaded by the
    runtime's boto3, which was built for another."""
    packages = layer_packages(tmp_path)
    assert "botocore" in packages  # the X-Ray SDK and our own reads need it
    assert "boto3" in packages
    import boto3
    import botocore

    assert (packages["boto3"], packages["botocore"]) == (boto3.__version__, botocore.__version__)  # what we test with
