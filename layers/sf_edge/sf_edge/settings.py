"""Typed settings and the composition root every function shares.

Each function declares one settings class (`FunctionSettings`: each field is the environment variable of the same
name upper-cased, as template.yaml sets it, with its type, default and checks) and one `compose(settings)` that
builds what its handler calls from adapters. `CompositionRoot` reads the settings once per container and composes
on first use; a bad value fails there, naming the variable and never showing a secret. The local runtime and the
tests hand a root other settings (`configure`) instead of changing the environment.

Why not pydantic (or pydantic-settings) here: the OData feed and the indexer never load pydantic otherwise, and
importing it cost them 120-190 ms of cold start on these machines (+23 % of the feed's import and composition,
measured A/B). A settings class is a frozen dataclass; the types an environment variable can hold (text, whole
numbers, decimals, booleans, paths, one of a few words, secrets) are read below.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, Union, get_args, get_origin, get_type_hints


class SettingsError(ValueError):
    """A setting is missing or has a value the function cannot use; the message names each one."""


@dataclass(frozen=True)
class SecretSetting:
    """A secret as template.yaml passes it: NAME_SECRET_ID (Secrets Manager), NAME_PARAMETER (an SSM SecureString),
    or NAME itself holding the value (local runs and tests); `sf_edge.aws.secrets.secret_source` reads it."""

    value: str = field(default="", repr=False)
    secret_id: str = ""
    parameter: str = ""

    @property
    def configured(self) -> bool:
        """Some place holds it: a secret, a parameter, or a value that is more than separators (`a,b` rotates)."""
        return bool(self.value.strip(" ,") or self.secret_id or self.parameter)


@dataclass(frozen=True)
class Check:
    """A condition on a setting's value, with what to say when it does not hold (`Annotated[int, at_least(1)]`)."""

    holds: Callable[[Any], bool]
    says: str


REQUIRED = Check(bool, "is required")


def at_least(low: int | Decimal) -> Check:
    return Check(lambda value: value >= low, f"must be at least {low}")


def at_most(high: int | Decimal) -> Check:
    return Check(lambda value: value <= high, f"must be at most {high}")


def matching(pattern: str, what: str) -> Check:
    return Check(lambda value: re.fullmatch(pattern, value) is not None, f"must be {what}")


Required = Annotated[str, REQUIRED]
NO_SECRET = (
    SecretSetting()
)  # the default of a secret setting: none configured  # a table name, a queue URL: nothing works without it

_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """Base of each function's settings: read from a mapping of environment variables, unknown ones ignored."""

    gathered: ClassVar[tuple[str, ...]] = ()  # fields read by `gather` rather than from one variable each

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings in `environ` (the process environment by default); SettingsError names every bad one."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = cls.gather(environ)
        problems: list[str] = []
        for name, (hint, has_default) in _fields(cls).items():
            if name in cls.gathered:
                continue
            variable = name.upper()
            try:
                values[name] = _read(hint, variable, environ)
            except _UnsetError:
                if not has_default:
                    problems.append(f"{variable}: is required")
            except ValueError as why:
                shown = "" if _is_secret(hint) else f" (got {environ.get(variable, '')[:80]!r})"
                problems.append(f"{variable}: {why}{shown}")
        if not problems:
            try:
                settings = cls(**values)
                settings.check()
                return settings
            except ValueError as why:
                problems.append(str(why))
        raise SettingsError(f"{cls.__name__}: " + "; ".join(problems))

    @classmethod
    def gather(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Values of the `gathered` fields, read from several variables (none here)."""
        return {}

    def check(self) -> None:
        """Checks across settings; a ValueError says what is wrong, naming the variables."""

    def to_env(self) -> dict[str, str]:
        """These settings as the environment variables they were read from."""
        env: dict[str, str] = {}
        for name in _fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, SecretSetting):
                env |= {name.upper(): value.value}
                env |= {f"{name.upper()}_SECRET_ID": value.secret_id, f"{name.upper()}_PARAMETER": value.parameter}
            elif name not in self.gathered:
                env[name.upper()] = "" if value is None else str(value)
        return env

    def but(self, **changes: Any) -> Self:
        """A copy with some settings changed, read and checked like the environment (tests:
        `settings.but(odata_page_size=5)`); a secret given as text replaces where the secret was kept."""
        env = self.to_env()
        fields = _fields(type(self))
        for name, value in changes.items():
            variable = name.upper()
            if name not in fields:
                raise SettingsError(f"{type(self).__name__}: no setting {variable}")
            if isinstance(value, SecretSetting):
                env |= {variable: value.value, f"{variable}_SECRET_ID": value.secret_id}
                env[f"{variable}_PARAMETER"] = value.parameter
                continue
            if _is_secret(fields[name][0]):  # given as text: the secret's own value, kept nowhere else
                env |= {f"{variable}_SECRET_ID": "", f"{variable}_PARAMETER": ""}
            env[variable] = "" if value is None else str(value)
        return type(self).from_env(env)


class _UnsetError(Exception):
    """The variable is absent (or empty where text is not the type): the field's default applies."""


_FIELDS: dict[type[FunctionSettings], dict[str, tuple[Any, bool]]] = {}


def _fields(settings: type[FunctionSettings]) -> dict[str, tuple[Any, bool]]:
    """Field name → (type hint, whether it has a default), hints resolved once per class."""
    if settings not in _FIELDS:
        hints = get_type_hints(settings, include_extras=True)
        _FIELDS[settings] = {
            f.name: (
                hints[f.name],
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING,
            )
            for f in dataclasses.fields(settings)
        }
    return _FIELDS[settings]


def _is_secret(hint: Any) -> bool:
    return hint is SecretSetting


def _read(hint: Any, variable: str, environ: Mapping[str, str]) -> Any:
    """The variable's value as the hint's type, its checks applied; _UnsetError when absent."""
    if _is_secret(hint):
        found = {k: environ.get(f"{variable}{suffix}", "") for k, suffix in _SECRET_PARTS.items()}
        if not any(found.values()):
            raise _UnsetError
        return SecretSetting(**found)
    checks: tuple[Check, ...] = ()
    if get_origin(hint) is Annotated:
        hint, *extras = get_args(hint)
        checks = tuple(extra for extra in extras if isinstance(extra, Check))
    raw = environ.get(variable)
    if raw is None:
        raise _UnsetError
    value = _convert(hint, raw.strip())
    for check in checks:
        if not check.holds(value):
            raise ValueError(check.says)
    return value


_SECRET_PARTS = {"value": "", "secret_id": "_SECRET_ID", "parameter": "_PARAMETER"}


def _convert(hint: Any, raw: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):  # `T | None`: empty means unset, i.e. None
        kinds = [kind for kind in get_args(hint) if kind is not type(None)]
        return None if raw == "" else _convert(kinds[0], raw)
    if origin is Literal:
        words = {str(word).lower(): word for word in get_args(hint)}
        if raw.lower() not in words:
            raise ValueError(f"must be one of {', '.join(map(str, get_args(hint)))}")
        return words[raw.lower()]
    if hint is str:
        return raw
    if raw == "":
        raise _UnsetError
    if hint is bool:
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ValueError("must be true or false")
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if hint is Decimal:
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise ValueError("must be a number") from None
        if not number.is_finite():
            raise ValueError("must be a number")
        return number
    if hint is Path:
        return Path(raw)
    raise TypeError(f"settings cannot hold {hint!r}")


class CompositionRoot[S: FunctionSettings, T]:
    """Where one function is configured and assembled: its settings, read once, and `compose(settings)`, run on
    first use (the container's first request) and kept for the container's life."""

    def __init__(self, settings_type: type[S], compose: Callable[[S], T]) -> None:
        self.settings_type = settings_type
        self.compose = compose
        self._settings: S | None = None
        self._built: T | None = None

    @property
    def settings(self) -> S:
        """The settings in use (from the environment unless configured)."""
        if self._settings is None:
            self._settings = self.settings_type.from_env()
        return self._settings

    def __call__(self) -> T:
        """The composed object graph."""
        if self._built is None:
            self._built = self.compose(self.settings)
        return self._built

    def configure(self, settings: S | None = None, **changes: Any) -> T:
        """Compose again from these settings (or the current ones with `changes`); the local runtime and tests."""
        chosen = settings if settings is not None else self.settings
        self._settings = chosen.but(**changes) if changes else chosen
        self._built = None
        return self()

    def provide(self, built: T, settings: S | None = None) -> T:
        """Use this object graph as it is (unit tests and the bench: in-memory fakes of the interfaces)."""
        self._settings = settings
        self._built = built
        return built

    def reset(self) -> None:
        """Forget settings and graph: the next call reads the environment again."""
        self._settings = None
        self._built = None
