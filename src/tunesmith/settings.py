"""Settings stated once: each field of a settings dataclass carries its default, bounds, choices
and help, and everything else is derived from it.

    @dataclass(kw_only=True)
    class Shape:
        layers: int = setting(3, "LSTM layers", low=1, high=16)

`check(obj)` refuses a value out of bounds with the sentence the command line
shows ("--layers must be between 1 and 16, not 0"); `add_flags(parser, Shape)`
makes the argparse flags; `command_words(obj)` writes the flags that give an
object back; `api_field(cls, name)` gives the bounds and help for a web API
field. A field's flag is `--name-with-dashes` unless it says otherwise;
`flag=None` marks a setting of the library only.
"""

from __future__ import annotations

import argparse
import math
import types
import typing
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import Any, Callable, Iterable

from tunesmith import TunesmithError


@dataclass(frozen=True)
class Spec:
    """What a setting is: its help, bounds and choices, and how it is spelled on the command line."""

    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False          # low itself is not allowed
    high_open: bool = False
    choices: tuple | Callable[[], Iterable] | None = None   # a callable: choices known only at run time
    flag: str | None = ""           # "" → --name-with-dashes; None → no flag (library only)
    short: str | None = None        # e.g. "-n"
    metavar: str | None = None
    group: str | None = None        # the heading its flag is listed under
    check: Callable[[Any], None] | None = None   # a further check that raises TunesmithError

    def choice_list(self) -> tuple | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)


def setting(default: Any = MISSING, help: str = "", *, factory: Callable | None = None, **spec) -> Any:
    """A dataclass field with its Spec (see the module's docstring)."""
    metadata = {"setting": Spec(help, **spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def spec_of(f: Field) -> Spec | None:
    return f.metadata.get("setting")


def flag_of(f: Field) -> str | None:
    spec = spec_of(f)
    if spec is None or spec.flag is None:
        return None
    return spec.flag or "--" + f.name.replace("_", "-")


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def base_type(hint: Any) -> tuple[type, bool, bool]:
    """(scalar type, optional, a list) of a field's annotation: `int | None` → (int, True, False)."""
    optional, many = False, False
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        optional = type(None) in args
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if typing.get_origin(hint) is list:
        many, hint = True, args[0]
    return hint, optional, many


def _number(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def bounds_sentence(name: str, spec: Spec) -> str | None:
    """'must be between 1 and 16' and the like, or None for a setting without bounds."""
    lo, hi = spec.low, spec.high
    if lo is None and hi is None:
        return None
    if lo is not None and hi is not None:
        if not spec.low_open and not spec.high_open:
            return f"{name} must be between {_number(lo)} and {_number(hi)}"
        left, right = "(" if spec.low_open else "[", ")" if spec.high_open else "]"
        return f"{name} must be in {left}{_number(lo)}, {_number(hi)}{right}"
    if lo is not None:
        if spec.low_open and lo == 0:
            return f"{name} must be positive"
        return f"{name} must be {'more than' if spec.low_open else 'at least'} {_number(lo)}"
    return f"{name} must be {'less than' if spec.high_open else 'at most'} {_number(hi)}"


def check_value(name: str, spec: Spec, value: Any) -> None:
    """Refuse one value against its spec (None passes: 'not set')."""
    if value is None:
        return
    values = value if isinstance(value, list) else [value]
    choices = spec.choice_list()
    for v in values:
        if choices is not None and v not in choices:
            raise TunesmithError(f"{name} must be one of {', '.join(map(str, choices))}, not {v!r}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            inside = (not isinstance(v, float) or math.isfinite(v)) and \
                (spec.low is None or (v > spec.low if spec.low_open else v >= spec.low)) and \
                (spec.high is None or (v < spec.high if spec.high_open else v <= spec.high))
            if not inside:
                raise TunesmithError(f"{bounds_sentence(name, spec) or name + ' must be a number'}, not {v}")
    if spec.check is not None:
        spec.check(value)


def check(obj: Any) -> None:
    """Refuse the first field of a settings dataclass that is out of its bounds or choices."""
    for f in fields(obj):
        spec = spec_of(f)
        if spec is not None:
            check_value(flag_of(f) or f.name, spec, getattr(obj, f.name))


def _help(f: Field, spec: Spec, shown: Any) -> str:
    if shown is None or shown is MISSING or "(default" in spec.help or isinstance(shown, bool):
        return spec.help
    return f"{spec.help} (default {shown if shown != '' else repr(shown)})"


def _section(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """The parser's argument group called `title`, made when it has none (so flags added to it by
    hand and by `add_flags` share one heading)."""
    for group in parser._action_groups:
        if group.title == title:
            return group
    return parser.add_argument_group(title)


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *,
              only: Iterable[str] | None = None, skip: Iterable[str] = (), defaults: Any = None,
              none_default: Iterable[str] = (), shown: dict | None = None, groups: bool = True,
              required: Iterable[str] = (), choices_now: bool = False) -> None:
    """Add the flags of `cls`'s settings to `parser`. `defaults`: an instance whose values are the
    flags' defaults (else the fields' own). Fields in `none_default` default to None (switches
    too), so that the caller can tell a flag given from one left out; `shown` overrides a
    default's description. A switch on by default is turned off by --no-NAME. `required`: fields
    whose flag must be given. `choices_now`: settings whose choices are known only at run time
    (a callable) get them now, as argparse choices (usage lists them, argparse refuses others).
    A field's `group` is a heading, shared with a group of that title the parser already has."""
    hints = _hints(cls)
    wanted = set(only) if only is not None else None
    none_default, shown, required = set(none_default), shown or {}, set(required)
    for f in fields(cls):
        spec, flag = spec_of(f), flag_of(f)
        if flag is None or f.name in skip or (wanted is not None and f.name not in wanted):
            continue
        kind, optional, many = base_type(hints[f.name])
        value = getattr(defaults, f.name) if defaults is not None else default_of(f)
        target = parser
        if groups and spec.group and isinstance(parser, argparse.ArgumentParser):
            target = _section(parser, spec.group)
        if kind is bool:
            on = bool(value) and value is not MISSING
            names = [n for n in (spec.short, "--no-" + flag[2:] if on and flag.startswith("--") else flag) if n]
            target.add_argument(*names, dest=f.name, action="store_false" if on else "store_true",
                                help=_help(f, spec, shown.get(f.name)),
                                **({"default": None} if f.name in none_default else {}))
            continue
        names = [n for n in (spec.short, flag) if n]
        options: dict[str, Any] = {"dest": f.name, "help": _help(f, spec, shown.get(f.name, value))}
        options["default"] = None if f.name in none_default else (None if value is MISSING else value)
        if f.name in required:
            options["required"] = True
        if kind in (int, float):
            options["type"] = kind
        if many:
            options["nargs"] = "+"
        choices = spec.choice_list() if choices_now or not callable(spec.choices) else None
        if choices is not None:
            options["choices"] = list(choices)
        if spec.metavar:
            options["metavar"] = spec.metavar
        target.add_argument(*names, **options)


def from_args(cls: type, args: argparse.Namespace, base: Any = None, **more) -> Any:
    """An instance of `cls` from parsed flags: the flags given (not None) over `base` (else the
    fields' defaults), then `more`."""
    values = {}
    for f in fields(cls):
        if f.init and hasattr(args, f.name) and getattr(args, f.name) is not None:
            values[f.name] = getattr(args, f.name)
    values.update(more)
    if base is not None:
        return replace(base, **values)
    return cls(**values)


def command_words(obj: Any, skip: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """(flags that give `obj` back from the defaults, settings without a flag as name=value):
    fields left at their default are left out."""
    words, library = [], []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in skip or spec_of(f) is None or value == default_of(f):
            continue
        flag = flag_of(f)
        if flag is None:
            library.append(f"{f.name}={value}")
        elif isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return words, library


def api_bounds(cls: type, name: str) -> dict:
    """The pydantic Field keywords of a setting: ge/le/gt/lt from its bounds, and its help."""
    f = next(f for f in fields(cls) if f.name == name)
    spec = spec_of(f)
    out: dict[str, Any] = {"description": spec.help}
    if spec.low is not None:
        out["gt" if spec.low_open else "ge"] = spec.low
    if spec.high is not None:
        out["lt" if spec.high_open else "le"] = spec.high
    return out


__all__ = ["Spec", "setting", "check", "check_value", "add_flags", "from_args", "command_words", "api_bounds",
           "spec_of", "flag_of", "default_of", "bounds_sentence"]
