"""`make salesforce`: render the Salesforce side as an SFDX project.

python -m salesforce_project                  # for `make run` (local URLs) into salesforce/ (committed)
python -m salesforce_project --stack NAME     # for a deployed stack into build/salesforce/NAME/ (git-ignored:
                                              # its Outbound Messages carry the stack's token)
python -m salesforce_project --check          # exit 1 when salesforce/ is not what the code renders (drift)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from salesforce_project.declarations import ROOT

LAYER = ROOT / "layers" / "sf_edge"
COMMITTED = ROOT / "salesforce"
GENERATED_TREE = "force-app"  # wholly generated: a file there the renderer no longer writes is stale


def rendered(stack: str | None) -> dict[str, str]:
    """The project's files for `make run`'s stack, or for a deployed one."""
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))
    from salesforce_project import declarations as declared
    from salesforce_project.endpoints import Endpoints
    from salesforce_project.render import render

    found = declared.load()
    declared.check(found)
    if stack is None:
        from local_runtime.stack import LOCAL_DEFAULTS

        endpoints = Endpoints.local(LOCAL_DEFAULTS)
    else:
        import boto3

        endpoints = Endpoints.of_stack(stack, boto3.client("cloudformation"), boto3.client("secretsmanager"))
    return render(found, endpoints)


def differences(files: dict[str, str], target: Path) -> list[str]:
    """What writing `files` into `target` would change (missing, different, or stale generated files)."""
    changed = [path for path, text in sorted(files.items()) if not _same(target / path, text)]
    tree = target / GENERATED_TREE
    existing = {p.relative_to(target).as_posix() for p in tree.rglob("*") if p.is_file()} if tree.is_dir() else set()
    return changed + sorted(f"{path} (stale)" for path in existing - files.keys())


def write(files: dict[str, str], target: Path) -> None:
    """Write the project, removing generated files it no longer has."""
    tree = target / GENERATED_TREE
    if tree.is_dir():
        for path in sorted(tree.rglob("*"), reverse=True):
            relative = path.relative_to(target).as_posix()
            if path.is_file() and relative not in files:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _same(path, text):
            path.write_text(text, encoding="utf-8")


def _same(path: Path, text: str) -> bool:
    return path.is_file() and path.read_text(encoding="utf-8") == text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make salesforce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="a deployed stack's name (default: make run's local stack)")
    parser.add_argument("--out", type=Path, help="where to write (default: salesforce/, or build/salesforce/<stack>/)")
    parser.add_argument("--check", action="store_true", help="only compare with salesforce/ (exit 1 on drift)")
    args = parser.parse_args(argv)
    from salesforce_project.declarations import DeclarationError
    from salesforce_project.endpoints import StackNotReady

    try:
        files = rendered(args.stack)
    except (DeclarationError, StackNotReady, ValueError) as exc:
        print(f"make salesforce: {exc}", file=sys.stderr)
        return 2
    target = args.out or (COMMITTED if args.stack is None else ROOT / "build" / "salesforce" / args.stack)
    if args.check:
        drift = differences(files, target)
        for line in drift:
            print(f"drift: {line}", file=sys.stderr)
        if drift:
            print("salesforce/ is not what the code renders: run `make salesforce` and commit it", file=sys.stderr)
        return 1 if drift else 0
    write(files, target)
    where = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    print(f"wrote {len(files)} files to {where}/")
    if args.stack is not None:
        print(
            f"next: (cd {where} && sf project deploy start --target-org <alias>), then "
            f"make salesforce-secrets STACK={args.stack} ORG=<alias> (README: Set up Salesforce)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
