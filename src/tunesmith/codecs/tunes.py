"""A person's own tune (ABC or **kern text) as a primer a text model continues, and what the model
wrote after it in the file's notation: the format's decisions for `tunesmith.continuation`."""

from __future__ import annotations

from tunesmith import TunesmithError
from tunesmith.notation import abc, kern
from tunesmith.notation.abc_units import to_unit, unit_at_end

SENTINEL = "z"     # a body line that lets a header-only tune be normalised; taken off again


def tune_primer(codec, text: str, name: str) -> tuple[str, str, str | None]:
    """(the text a continuation follows, the tune in `codec`'s training shape, the unit note length the
    continuation is to be written back in or None) for `text`, the contents of an ABC or **kern file;
    an error in one sentence, naming `name`, for one it cannot take."""
    if codec.primer_kind != "text" or codec.format not in ("abc", "kern"):
        raise TunesmithError(f"only models of ABC or **kern text continue a tune; this one writes {codec.format}")
    if codec.format == "abc":
        return _abc_tune(codec, text, name)
    return (*_kern_tune(text, name), None)


def written(codec, primer: str, added: str, unit: str | None = None) -> str:
    """What the model wrote after `primer` (decoded, training shape), in the file's notation: for a
    model that reads ABC in one unit note length, in `unit`, the person's own at the end of their tune."""
    if codec.format == "kern":
        return kern_tail(codec, primer, added)
    return added if unit is None else in_own_unit(primer, added, unit)


def in_own_unit(primer: str, added: str, unit: str) -> str:
    """`added`, written after `primer` in the model's unit, in `unit`. A note the person's tune ends
    with may be lengthened by the model; where their own length cannot be written on to the new one
    (`A2` in L:1/8 lengthened to `A2/`, one unit, is `A` in L:1/4, which `A2` does not begin), the
    lengthening is left out and the continuation starts after it."""
    head = to_unit(primer, unit)
    for tail in (added, added.lstrip("0123456789/")):
        whole = to_unit(primer + tail, unit)
        if head is not None and whole is not None and whole.startswith(head):
            return whole[len(head):]
    return added


def _kept(text: str) -> str:
    """The text a continuation follows: without trailing blank lines (in ABC a blank line ends the
    tune), with the final newline, or the spaces after the last note, the person wrote."""
    body = text.rstrip()
    tail = text[len(body):]
    return body + ("\n" if "\n" in tail else tail)


def _abc_tune(codec, text: str, name: str) -> tuple[str, str, str | None]:
    """The last tune of an ABC text (a file header's fields hold for it, as in reading), normalised,
    in the model's unit note length; the person's unit at its end where the model reads in another."""
    kept = _kept(text)
    file_header, tunes = abc.split_book(kept)
    inherited: dict[str, str] = {}
    if tunes:
        for line in file_header:
            found = abc.FIELD.match(line)
            if found and found.group(1) in abc.INHERITED:
                inherited[found.group(1)] = found.group(2)
        lines = tunes[-1]
    else:
        lines = ["X:1"] + file_header
    ends_line = kept.endswith("\n")
    lines = lines[:-1] if ends_line and lines and lines[-1] == "" else lines
    try:
        shaped = abc.normalise_tune(lines, inherited, number=1, keep=getattr(codec, "keep_fields", ""))
    except abc.TuneError as exc:
        if "no music after the header" not in str(exc):
            raise TunesmithError(f"{name} cannot be continued: {exc}") from None
        shaped = abc.normalise_tune(lines + [SENTINEL], inherited, number=1, keep=getattr(codec, "keep_fields", ""))
        shaped = shaped[:-len(SENTINEL) - 1]
    if not ends_line:
        spaces = kept[len(kept.rstrip(" \t")):]
        shaped = shaped[:-1] + spaces
    moved = codec.in_unit(shaped)
    own = unit_at_end(shaped) if moved != shaped else None
    return kept, moved, own if own != codec.unit_length else None


def _kern_tune(text: str, name: str) -> tuple[str, str]:
    """A **kern file's body (as reading strips it); the person's text then ends with a newline."""
    kept = _kept(text)
    last = kept.rstrip("\n").rsplit("\n", 1)[-1]
    if last.startswith("*") and all(f == "*-" for f in last.split("\t")):
        raise TunesmithError(f"{name} ends with the spines' terminators (*-): delete that line (and a final "
                             f"== barline) to have it continued")
    try:
        body, _ = kern.strip(kept)
    except kern.KernError as exc:
        raise TunesmithError(f"{name} cannot be continued: {exc}") from None
    return (kept if kept.endswith("\n") else kept + "\n"), body


def kern_tail(codec: Codec, primer: str, added: str) -> str:
    """What the model wrote after a **kern primer, as the lines of a file: its measure markers as
    numbered barlines, spine terminators at the end (as `kern.restore` writes a whole piece)."""
    whole = primer + added
    lines, _, _ = kern.repair(whole)
    own = len(kern.repair(primer)[0])
    try:
        restored = kern.restore(whole, getattr(codec, "kern_headers", {}))[0].rstrip("\n").split("\n")
    except kern.KernError:
        return added
    body = len(lines) + (0 if lines and lines[-1].startswith(kern.MARKER) else 1)   # restore closes the piece
    first = len(restored) - 1 - body + own
    return "\n".join(restored[first:]) + "\n"
