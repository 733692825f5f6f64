"""The value checks of kzoo: Python's `bool` is an `int`, so `True` would pass
as `1` (and as `1.0`) unless every check excludes it. These helpers are the one
place that does; the checks that raise name the setting and what it must be.
"""

from kzoo.runtime.errors import UsageError


def is_int(value):
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    """True for an int or a float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive(name, value, allow_zero=False):
    """Raise `UsageError` unless `value` is a number > 0 (>= 0 with `allow_zero`)."""
    if not is_number(value):
        raise UsageError(f"{name} must be a number, got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{name} must be {bound}, got {value!r}.")


def check_int(name, value, low):
    """Raise `UsageError` unless `value` is an int >= `low`."""
    if not is_int(value) or value < low:
        raise UsageError(f"{name} must be an int >= {low}, got {value!r}.")


def check_choice(name, value, choices):
    """Raise `UsageError` naming the valid choices when `value` is not one of them."""
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise UsageError(f"Invalid {name}={value!r}. Choose one of: {shown}.")


def check_range(name, value, low=None, high=None, *, kind=(int, float)):
    """Raise `UsageError` unless `value` is a number of `kind` (never a bool) within
    `[low, high]` (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, kind):
        raise UsageError(f"{name} must be a number, got {value!r}.")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise UsageError(f"{name}={value!r} is out of range; it must lie in {bounds}.")
