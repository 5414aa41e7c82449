"""How a settings class reads the environment: each type, each check, defaults, secrets, and the composition root
that holds them (no AWS: tests/integration/test_settings.py holds every function's settings to template.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import pytest

from sf_edge.settings import (
    NO_SECRET,
    CompositionRoot,
    FunctionSettings,
    Required,
    SecretSetting,
    SettingsError,
    at_least,
    at_most,
)


@dataclass(frozen=True, kw_only=True)
class Sample(FunctionSettings):
    queue_url: Required
    count: Annotated[int, at_least(1), at_most(10)] = 5
    ratio: Decimal = Decimal("0.5")
    flag: bool | None = None
    limit: int | None = None
    mode: Literal["Basic", "ApiKey"] = "Basic"
    folder: Path = Path("/opt/listeners")
    token: SecretSetting = NO_SECRET


BASE = {"QUEUE_URL": "https://sqs.example/q"}


def read(**env: str) -> Sample:
    return Sample.from_env({**BASE, **env})


def refusal(**env: str) -> str:
    with pytest.raises(SettingsError) as refused:
        read(**env)
    return str(refused.value)


def test_absent_settings_take_their_defaults_and_a_required_one_is_named() -> None:
    settings = read()
    assert (settings.count, settings.ratio, settings.flag, settings.limit) == (5, Decimal("0.5"), None, None)
    assert (settings.mode, settings.folder, settings.token) == ("Basic", Path("/opt/listeners"), SecretSetting())
    with pytest.raises(SettingsError, match=r"^Sample: QUEUE_URL: is required$"):
        Sample.from_env({})
    assert refusal(QUEUE_URL="  ") == "Sample: QUEUE_URL: is required (got '  ')"


@pytest.mark.parametrize(("value", "ok"), [("1", True), ("10", True), ("0", False), ("11", False), ("-1", False)])
def test_checks_hold_at_their_bounds(value: str, ok: bool) -> None:
    if ok:
        assert read(COUNT=value).count == int(value)
    else:
        assert refusal(COUNT=value).startswith("Sample: COUNT: must be at")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"COUNT": "five"}, "COUNT: must be a whole number (got 'five')"),
        ({"RATIO": "half"}, "RATIO: must be a number (got 'half')"),
        ({"RATIO": "NaN"}, "RATIO: must be a number (got 'NaN')"),
        ({"RATIO": "Infinity"}, "RATIO: must be a number (got 'Infinity')"),
        ({"FLAG": "maybe"}, "FLAG: must be true or false (got 'maybe')"),
        ({"MODE": "oauth"}, "MODE: must be one of Basic, ApiKey (got 'oauth')"),
        ({"LIMIT": "x"}, "LIMIT: must be a whole number (got 'x')"),
    ],
)
def test_a_bad_value_is_named_with_what_was_sent(env: dict[str, str], expected: str) -> None:
    assert refusal(**env) == f"Sample: {expected}"


def test_every_bad_value_is_named_at_once() -> None:
    assert refusal(COUNT="0", FLAG="maybe") == (
        "Sample: COUNT: must be at least 1 (got '0'); FLAG: must be true or false (got 'maybe')"
    )


def test_what_was_sent_is_shown_cut_to_80_characters() -> None:
    sent = "x" * 79 + "yz" + "z" * 40
    assert refusal(COUNT=sent) == f"Sample: COUNT: must be a whole number (got {sent[:80]!r})"


@pytest.mark.parametrize(
    ("env", "flag", "limit"),
    [({}, None, None), ({"FLAG": "", "LIMIT": ""}, None, None), ({"FLAG": "TRUE", "LIMIT": "3"}, True, 3)],
)
def test_an_empty_optional_setting_is_unset(env: dict[str, str], flag: bool | None, limit: int | None) -> None:
    settings = read(**env)
    assert (settings.flag, settings.limit) == (flag, limit)


@pytest.mark.parametrize(("sent", "read_as"), [("apikey", "ApiKey"), ("APIKEY", "ApiKey"), (" basic ", "Basic")])
def test_one_of_a_few_words_is_read_in_any_case_as_declared(sent: str, read_as: str) -> None:
    assert read(MODE=sent).mode == read_as


def test_a_secret_is_one_setting_from_three_variables_and_never_shown() -> None:
    stored = read(TOKEN_SECRET_ID="arn:aws:secretsmanager:us-east-1:1:secret:t", TOKEN="local")
    assert stored.token == SecretSetting(value="local", secret_id="arn:aws:secretsmanager:us-east-1:1:secret:t")
    assert "local" not in repr(stored)
    assert read(TOKEN_PARAMETER="/edge/token").token == SecretSetting(parameter="/edge/token")


def test_a_secret_changed_as_text_is_no_longer_read_from_the_store() -> None:
    stored = read(TOKEN_SECRET_ID="arn:aws:secretsmanager:us-east-1:1:secret:t")
    changed = stored.but(token="plain", count=3)
    assert (changed.token, changed.count) == (SecretSetting(value="plain"), 3)


def test_a_secret_changed_as_a_setting_and_another_change_both_apply() -> None:
    changed = read().but(token=SecretSetting(parameter="/edge/token"), count=3)
    assert (changed.token, changed.count) == (SecretSetting(parameter="/edge/token"), 3)


def test_a_change_is_checked_like_the_environment_and_names_unknown_settings() -> None:
    with pytest.raises(SettingsError, match="COUNT: must be at most 10"):
        read().but(count=11)
    with pytest.raises(SettingsError, match="no setting COLOUR"):
        read().but(colour="blue")
    assert read().but(limit=None).limit is None


def test_settings_read_back_from_the_variables_they_came_from() -> None:
    settings = read(COUNT="3", RATIO="1.25", FLAG="false", LIMIT="4", MODE="ApiKey", TOKEN="t", FOLDER="/x")
    assert Sample.from_env(settings.to_env()) == settings


def test_the_composition_root_composes_once_from_the_settings_it_is_given() -> None:
    built: list[Sample] = []

    def compose(settings: Sample) -> tuple[int, str]:
        built.append(settings)
        return settings.count, settings.queue_url

    root = CompositionRoot(Sample, compose)
    assert root.configure(read(COUNT="2")) == (2, BASE["QUEUE_URL"])
    assert root() == (2, BASE["QUEUE_URL"])
    assert len(built) == 1  # kept for the container's life
    assert root.configure(count=4) == (4, BASE["QUEUE_URL"])  # the settings in use, changed
    assert root.settings.count == 4
    assert root.provide((9, "fake")) == (9, "fake")
    assert root() == (9, "fake")
    assert len(built) == 2
