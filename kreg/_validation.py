"""Argument checks shared by every kreg component.

Every check raises at construction with one message template:

    Invalid value for argument `rate` of Dropout: expected a float in [0, 1).
    Received: rate=1.5

Nothing is clamped or coerced silently: a bool is not a number, a string is
not a number, NaN and infinities are rejected wherever a finite value is meant.
"""

import math
import numbers


def invalid(owner, name, expected, value):
    """Returns the `ValueError` for argument `name` of `owner`."""
    return ValueError(
        f"Invalid value for argument `{name}` of {owner}: expected {expected}. "
        f"Received: {name}={value!r}"
    )


def is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def non_negative_float(owner, name, value):
    """A finite real number >= 0, returned as a Python float."""
    if not is_real(value) or not math.isfinite(value) or value < 0:
        raise invalid(owner, name, "a finite float >= 0", value)
    return float(value)


def fraction(owner, name, value, high=1.0, *, include_high=True):
    """A float in [0, high] (or [0, high) with `include_high=False`)."""
    inside = is_real(value) and math.isfinite(value) and 0 <= value and (
        value <= high if include_high else value < high
    )
    if not inside:
        raise invalid(owner, name, f"a float in [0, {high:g}{']' if include_high else ')'}", value)
    return float(value)


def value_range(owner, value):
    """A pair `(low, high)` of finite floats with `low < high`, as a list."""
    if not (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(is_real(b) and math.isfinite(b) for b in value)
        and value[0] < value[1]
    ):
        raise invalid(owner, "value_range", "a pair (low, high) of finite floats with low < high", value)
    return [float(value[0]), float(value[1])]


def positive_float(owner, name, value):
    """A finite real number > 0, returned as a Python float."""
    if not is_real(value) or not math.isfinite(value) or value <= 0:
        raise invalid(owner, name, "a finite float > 0", value)
    return float(value)


def positive_int(owner, name, value, *, allow_none=False):
    """An integer >= 1 (not a bool, not a float), or None if allowed."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        expected = "an int >= 1" + (" or None" if allow_none else "")
        raise invalid(owner, name, expected, value)
    return int(value)


def seed(owner, value, *, allow_none=True):
    """A seed: an int >= 0 (0 included, a seed like any other), or None if allowed."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise invalid(owner, "seed", "an int >= 0" + (" or None" if allow_none else ""), value)
    return int(value)


def one_of(owner, name, value, choices):
    """`value` must be one of `choices` (compared with ==, type-checked)."""
    if not isinstance(value, str) or value not in choices:
        raise invalid(owner, name, f"one of {sorted(choices)}", value)
    return value


def axis_spec(owner, name, value):
    """`"auto"`, an int, or a non-empty list/tuple of distinct ints.

    Returns `"auto"`, an int, or a list of ints (JSON-friendly, so that
    `get_config` survives a JSON round trip unchanged).
    """
    if isinstance(value, str):
        if value == "auto":
            return value
        raise invalid(owner, name, '"auto", an int or a list of ints', value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple)) and value and all(
        isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in value
    ):
        axes = [int(a) for a in value]
        if len(set(axes)) == len(axes):
            return axes
    raise invalid(owner, name, '"auto", an int or a list of distinct ints', value)
