"""Property tests for the settings (pipeline/settings.py): whatever a NEWSWATCH_ numeric variable
holds, reading the settings gives valid Settings or one SettingsError line naming it."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.pipeline.errors import SettingsError
from newswatch.pipeline.settings import ENV_PREFIX, Settings, get_settings

NUMERIC = sorted(
    name for name, field in Settings.model_fields.items() if field.annotation in (int, float, bool)
)
# What people type by mistake, and what arbitrary input does.
VALUE = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "abc", "10^9", "1e309", "-0", "0x10", "1_000", "nan", "inf", "-inf",
                     "true", "yes", "None", "null", "[]", "{}", "1.5", "１２", "٣", "9" * 5000,
                     " 7 ", "7\n", "\t3"]),
    st.text(max_size=20).filter(lambda t: "\x00" not in t),
)


def test_every_numeric_setting_is_covered() -> None:
    assert {"batch_size", "event_window_days", "fetch_timeout", "max_text_chars"} <= set(NUMERIC)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(NUMERIC), value=VALUE)
def test_any_value_gives_settings_or_one_line_naming_the_variable(name: str, value: str) -> None:
    """Never another exception: a valid Settings within the field's bounds, or a SettingsError
    of one line that names the variable."""
    variable = ENV_PREFIX + name.upper()
    saved = os.environ.get(variable)
    os.environ[variable] = value
    try:
        try:
            result = get_settings()
        except SettingsError as exc:
            message = str(exc)
            assert message.startswith(variable), message[:200]
            assert "\n" not in message
        else:
            field = Settings.model_fields[name]
            number = getattr(result, name)
            for bound in field.metadata:
                for attr, ok in (("ge", number >= getattr(bound, "ge", number)),
                                 ("gt", number > getattr(bound, "gt", number - 1)),
                                 ("le", number <= getattr(bound, "le", number))):
                    if hasattr(bound, attr):
                        assert ok, (variable, value, number, bound)
    finally:
        if saved is None:
            del os.environ[variable]
        else:
            os.environ[variable] = saved


@pytest.mark.parametrize("name", NUMERIC)
def test_a_non_number_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    variable = ENV_PREFIX + name.upper()
    monkeypatch.setenv(variable, "not-a-number")
    with pytest.raises(SettingsError, match=f"^{variable}='not-a-number'"):
        get_settings()
