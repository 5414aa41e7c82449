"""What `sam build` puts in the shared layer: the packages its requirements resolve to for the Lambda runtime
(Python 3.13, arm64), asked of pip as sam build asks it (needs the package index, as `make test` does)."""

from __future__ import annotations

import json
import shutil
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


def _pins(lock: Path) -> dict[str, str]:
    """name → version of each package a lock file pins (each with its hashes)."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#") and "==" in line:
            name, _, rest = line.partition("==")
            pins[name.split("[")[0].strip().lower()] = rest.split()[0]
    return pins


LOCKS = {
    "layers/sf_edge/requirements.txt": "layers/sf_edge/requirements.in",
    "layers/tracing/requirements.txt": "layers/tracing/requirements.in",
    "requirements-dev.txt": "requirements-dev.in",
}


def test_every_lock_pins_every_package_with_hashes() -> None:
    for lock in LOCKS:
        text = (ROOT / lock).read_text(encoding="utf-8")
        pinned = _pins(ROOT / lock)
        assert pinned, lock
        assert text.count("--hash=sha256:") >= len(pinned), lock  # pip then checks every file it installs


def test_the_x_ray_sdk_is_only_in_the_tracing_layer_with_the_shared_layers_versions() -> None:
    """Tracing is off by default: the shared layer does not carry the SDK. Where both layers hold a package
    (botocore and its dependencies), it is the same version, so the order Lambda extracts them in cannot matter."""
    shared, tracing = _pins(ROOT / "layers/sf_edge/requirements.txt"), _pins(ROOT / "layers/tracing/requirements.txt")
    assert "aws-xray-sdk" not in shared
    assert "aws-xray-sdk" in tracing
    assert {name: tracing[name] for name in tracing.keys() & shared.keys()} == {
        name: shared[name] for name in tracing.keys() & shared.keys()
    }
    assert "botocore" in tracing.keys() & shared.keys()


def test_the_locks_are_what_make_lock_writes_from_the_in_files(tmp_path: Path) -> None:
    """A changed .in file without `make lock` fails here (needs the package index, as `make test` does)."""
    uv = str(Path(sys.executable).with_name("uv"))
    common = ["pip", "compile", "--quiet", "--generate-hashes", "--python-version", "3.13"]
    platform = ["--python-platform", "aarch64-manylinux2014"]
    shared_lock = "layers/sf_edge/requirements.txt"
    runs = {
        "layers/sf_edge/requirements.txt": [*platform, "layers/sf_edge/requirements.in"],
        "layers/tracing/requirements.txt": [*platform, "layers/tracing/requirements.in", "-c", shared_lock],
        "requirements-dev.txt": ["--universal", "requirements-dev.in"],
    }
    for lock, arguments in runs.items():
        fresh = tmp_path / Path(lock).name
        # Starting from the lock (uv keeps the pins it finds there, as `make lock` does): a package released since
        # does not make a lock stale; a changed .in does.
        shutil.copyfile(ROOT / lock, fresh)
        subprocess.run([uv, *common, *arguments, "-o", str(fresh)], cwd=ROOT, check=True, capture_output=True)
        assert _pins(fresh) == _pins(ROOT / lock), f"{lock} is stale: run make lock"
