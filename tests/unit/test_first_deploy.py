"""A first `make deploy` with no surprises: samconfig.toml ships (tracked, so a clone has it) with safe defaults
and no secrets, and the template refuses an empty allowed-org list."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import yaml

from conftest import ROOT


class _Loader(yaml.SafeLoader):
    """template.yaml's short-form intrinsics (!Ref, !Sub, ...) read as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_samconfig_ships_with_safe_defaults_and_no_secrets() -> None:
    path = ROOT / "samconfig.toml"
    git = shutil.which("git")
    if (ROOT / ".git").exists() and git:
        tracked = subprocess.run(
            [git, "ls-files", "--error-unmatch", "samconfig.toml"], cwd=ROOT, capture_output=True, check=False
        )
        assert tracked.returncode == 0, "samconfig.toml is not in the repository: a clone would deploy with prompts"
    config = tomllib.loads(path.read_text(encoding="utf-8"))["default"]
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True  # no bucket to create or name
    assert config["build"]["parameters"]["cached"] is True  # an unchanged build is not rebuilt
    assert "parameter_overrides" not in deploy  # per-environment values (and never secrets) go on the command line
    assert not re.search(r"(?i)(secret|password|token|key)\s*=", path.read_text(encoding="utf-8"))


def test_the_template_refuses_an_empty_allowed_org_list() -> None:
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    parameter = template["Parameters"]["AllowedOrgIds"]
    assert "Default" not in parameter
    pattern = re.compile(parameter["AllowedPattern"])
    assert not pattern.fullmatch("")
    assert pattern.fullmatch("00D5g00000LoCaL,00D5g00000LoCaLEAA")


def test_make_deploy_refuses_no_org_ids_before_building_anything() -> None:
    make = shutil.which("make")
    assert make is not None
    done = subprocess.run(
        [make, "--no-print-directory", "deploy-check", "ALLOWED_ORG_IDS="],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "make deploy needs ALLOWED_ORG_IDS=" in done.stderr
    passed = subprocess.run(
        [make, "--no-print-directory", "deploy-check", "ALLOWED_ORG_IDS=00D5g00000LoCaL"], cwd=ROOT, check=False
    )
    assert passed.returncode == 0


def test_guided_answers_never_overwrite_the_shipped_defaults() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    guided = makefile[makefile.index("deploy-guided:") :].split("\n\n")[0]
    assert "--config-file samconfig.local.toml" in guided
    assert "samconfig.local.toml" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
