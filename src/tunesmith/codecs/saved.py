"""Reading a saved codec (codec.json, run.json's "codec"): each entry of the right type, or one sentence.

A codec's `from_json` reads its entries with `entry(data, key, kind)`: a
missing required entry, or one of the wrong type, is a `TunesmithError` that
names it ("the codec file has 'chars' of the wrong type: it should be a list of
single characters, not a number (5)"), never a traceback.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from tunesmith import TunesmithError

REQUIRED = object()


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# what an entry should be: (how people are told, the test)
KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "string or null": ("a string or null", lambda v: v is None or isinstance(v, str)),
    "strings": ("a list of strings", _is_str_list),
    "distinct strings": ("a list of distinct strings", lambda v: _is_str_list(v) and len(set(v)) == len(v)),
    "characters": ("a list of distinct single characters",
                   lambda v: _is_str_list(v) and all(len(c) == 1 for c in v) and len(set(v)) == len(v)),
    "number": ("a number", _is_number),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "object or null": ("an object or null", lambda v: v is None or isinstance(v, dict)),
}


def described(value: Any) -> str:
    """A JSON value for people: its JSON type and a short copy."""
    if value is None:
        return "null"
    kind = ("true or false" if isinstance(value, bool) else "a string" if isinstance(value, str)
            else "a number" if isinstance(value, (int, float)) else "a list" if isinstance(value, list)
            else "an object" if isinstance(value, dict) else type(value).__name__)
    text = repr(value)
    return f"{kind} ({text if len(text) <= 40 else text[:37] + '...'})"


def wrong(key: str, need: str, value: Any) -> TunesmithError:
    return TunesmithError(f"the codec file has '{key}' of the wrong type: it should be {need}, not "
                          f"{described(value)}")


def entry(data: dict, key: str, kind: str, default: Any = REQUIRED) -> Any:
    """data[key], checked to be of `kind` (a key of KINDS); `default` where it is absent (an error where
    there is none)."""
    if key not in data:
        if default is REQUIRED:
            raise TunesmithError(f"the codec file is missing its '{key}' entry")
        return default
    value = data[key]
    need, test = KINDS[kind]
    if not test(value):
        raise wrong(key, need, value)
    return value


def read(kind: str, make: Callable[[], Any]):
    """Run a codec's from_json: its own sentences pass; anything else unexpected becomes one."""
    try:
        return make()
    except TunesmithError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file must not be a traceback
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TunesmithError(f"the codec file of kind '{kind}' is damaged ({type(exc).__name__}: "
                             f"{detail[:120]})") from None
