"""kzoo.runtime.checks: a bool is no int and no number; the raising checks name the setting."""

import pytest

from kzoo.runtime import checks
from kzoo.runtime.errors import UsageError


def test_bools_are_neither_ints_nor_numbers():
    assert checks.is_int(3) and checks.is_number(3) and checks.is_number(0.5)
    for value in (True, False):
        assert not checks.is_int(value) and not checks.is_number(value)
    assert not checks.is_int(2.0) and not checks.is_number("2") and not checks.is_int(None)


def test_raising_checks_name_the_setting_and_the_bound():
    checks.check_int("steps", 2, 2)
    checks.check_positive("lr", 0, allow_zero=True)
    with pytest.raises(UsageError, match=r"steps must be an int >= 2, got True"):
        checks.check_int("steps", True, 2)
    with pytest.raises(UsageError, match=r"lr must be > 0, got 0"):
        checks.check_positive("lr", 0)
    with pytest.raises(UsageError, match=r"lr must be a number, got False"):
        checks.check_positive("lr", False)


def test_choice_and_range_name_the_choices_and_the_bounds():
    checks.check_choice("head", "binary", ("binary", "multiclass"))
    checks.check_range("dropout", 0.5, 0.0, 1.0)
    with pytest.raises(UsageError, match=r"Invalid head='x'. Choose one of: 'binary'"):
        checks.check_choice("head", "x", ("binary",))
    with pytest.raises(UsageError, match=r"dropout=2 is out of range; it must lie in \[0, 1\]"):
        checks.check_range("dropout", 2, 0, 1)
    with pytest.raises(UsageError, match="units must be a number, got True"):
        checks.check_range("units", True, 1, kind=int)
