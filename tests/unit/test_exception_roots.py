"""One exception root per package of the layer: an exception a package defines derives from the root its
`__init__` declares (with the builtin base it had, so no `except` changes what it catches). Domain refusals keep
their own root, `sf_edge.domain_errors.DomainError`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import sf_edge
from sf_edge.domain_errors import DomainError

ROOTS = {
    "aws": "AdapterError",
    "odata": "ODataEngineError",
    "order_system": "OrderSystemError",
    "outbound": "OutboundError",
    "salesforce": "SalesforceCallError",
    "sync": "SyncError",
    "write_back": "WriteBackError",
}


def _exceptions(package: str) -> list[type[BaseException]]:
    found = []
    module_names = [f"sf_edge.{package}"] + [
        info.name
        for info in pkgutil.iter_modules(importlib.import_module(f"sf_edge.{package}").__path__, f"sf_edge.{package}.")
    ]
    for name in module_names:
        module = importlib.import_module(name)
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, BaseException) and cls.__module__ == name and not cls.__name__.startswith("_")
        ]
    return found


@pytest.mark.parametrize(("package", "root_name"), sorted(ROOTS.items()))
def test_every_exception_of_a_package_derives_from_its_root(package: str, root_name: str) -> None:
    root = getattr(importlib.import_module(f"sf_edge.{package}"), root_name)
    defined = _exceptions(package)
    assert root in defined
    assert len(defined) > 1, "a root with nothing under it"
    strays = sorted(
        cls.__qualname__ for cls in defined if not issubclass(cls, root) and not issubclass(cls, DomainError)
    )
    assert strays == []


def test_the_layer_has_no_package_without_its_root() -> None:
    packages = {info.name for info in pkgutil.iter_modules(sf_edge.__path__) if info.ispkg}
    raising = {package for package in packages if _exceptions(package)}
    assert raising <= set(ROOTS) | {"callouts"}  # callouts' one exception, ApiProblem, is its root
