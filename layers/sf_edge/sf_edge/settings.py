"""Typed settings and the composition root every function shares.

Each function declares one pydantic model of its settings (`FunctionSettings`: each field is the environment
variable of the same name upper-cased, as template.yaml sets it) and one `compose(settings)` that builds what its
handler calls from adapters. `CompositionRoot` reads the settings once per container and composes on first use; a
bad value fails there, naming the variable. The local runtime and the tests hand a root other settings
(`configure`) instead of changing the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator


class SettingsError(ValueError):
    """A setting is missing or has a value the function cannot use; the message names each one."""


class SecretSetting(BaseModel):
    """A secret as template.yaml passes it: NAME_SECRET_ID (Secrets Manager), NAME_PARAMETER (an SSM SecureString),
    or NAME itself holding the value (local runs and tests); `sf_edge.aws.secrets.secret_source` reads it."""

    model_config = ConfigDict(frozen=True)

    value: SecretStr = SecretStr("")
    secret_id: str = ""
    parameter: str = ""


class FunctionSettings(BaseModel):
    """Base of each function's settings: read from a mapping of environment variables, unknown ones ignored."""

    model_config = ConfigDict(
        alias_generator=str.upper, validate_by_name=True, extra="ignore", frozen=True, str_strip_whitespace=True
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings in `environ` (the process environment by default); SettingsError names every bad one."""
        try:
            return cls.model_validate(dict(os.environ if environ is None else environ))
        except ValidationError as invalid:
            raise SettingsError(describe(cls, invalid)) from None

    def but(self, **changes: Any) -> Self:
        """A copy with some settings changed, validated like the originals (tests: `settings.but(page_size=5)`)."""
        try:
            return type(self).model_validate({**dict(self), **changes})
        except ValidationError as invalid:
            raise SettingsError(describe(type(self), invalid)) from None

    @model_validator(mode="before")
    @classmethod
    def _gather_secrets(cls, data: Any) -> Any:
        """NAME, NAME_SECRET_ID and NAME_PARAMETER become one SecretSetting."""
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            key = name.upper()
            raw = data.get(key, data.get(name, ""))
            if field.annotation is SecretSetting and not isinstance(raw, SecretSetting | dict):
                data.pop(name, None)
                data[key] = {
                    "value": raw,
                    "secret_id": data.get(f"{key}_SECRET_ID", ""),
                    "parameter": data.get(f"{key}_PARAMETER", ""),
                }
        return data


def describe(settings: type[FunctionSettings], invalid: ValidationError) -> str:
    """One line per bad setting, named as the environment names it; secret values are never shown."""
    secrets = {name for name, field in settings.model_fields.items() if field.annotation is SecretSetting}
    lines = []
    for error in invalid.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not loc:  # a check across settings: its message names them
            lines.append(message)
            continue
        name = "_".join(loc).upper().replace("_VALUE", "")
        shown = error.get("input")
        secret = loc[0].lower() in secrets
        got = "" if secret or not isinstance(shown, str | int) else f" (got {str(shown)[:80]!r})"
        lines.append(f"{name}: {message}{got}")
    return f"{settings.__name__}: " + "; ".join(lines)


class CompositionRoot[S: "FunctionSettings", T]:
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
