"""Continuing a person's own tune, ABC or **kern: `tunesmith continue FILE` and the web app's
"continue my tune".

The tune is brought into the model's training shape as a primer (ABC: its
header normalised the way reading normalises a corpus tune, with the model's
kept fields, and no final newline the person did not write; **kern: its body,
as reading strips it), the model continues it under its constraint, and each
file written is the person's text, unchanged, followed by what the model wrote
(the ids after the primer, decoded; for **kern, its measure markers restored
as barlines). `prepare` refuses, in one sentence, a tune the model cannot
continue: another format, characters the model never saw, or (under the
constraint) a symbol its grammar cannot follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith import TunesmithError
from tunesmith.codecs import Codec
from tunesmith.notation import abc, kern
from tunesmith.sample import Finish, Sampled

SENTINEL = "z"     # a body line that lets a header-only tune be normalised; taken off again


@dataclass
class Tune:
    """A person's tune, ready to be continued."""

    text: str       # what every file starts with: their text (trailing blank lines aside)
    primer: str     # the same tune in the model's training shape

    def finisher(self, codec: Codec) -> Finish:
        """How a sampled continuation becomes its file: the person's text, then what the model wrote."""
        def finish(piece: Sampled, number: int) -> str:
            return self.text + self.written(codec, piece)
        return finish

    def written(self, codec: Codec, piece: Sampled) -> str:
        """What the model wrote after the primer, in the file's own notation."""
        added = codec.decode(piece.ids[piece.primed:])
        return kern_tail(codec, self.primer, added) if codec.format == "kern" else added


def prepare(codec: Codec, text: str, name: str = "the tune", constrain: bool = True) -> Tune:
    """`text` (the contents of an ABC or **kern file) as a Tune for `codec`'s model; an error in one
    sentence, naming `name`, for one it cannot continue."""
    if codec.primer_kind != "text" or codec.format not in ("abc", "kern"):
        raise TunesmithError(f"only models of ABC or **kern text continue a tune; this one writes {codec.format}")
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise TunesmithError(f"{name} is empty: there is no tune to continue")
    tune = _abc_tune(codec, text, name) if codec.format == "abc" else _kern_tune(text, name)
    try:
        ids = codec.encode_primer(tune.primer)
    except TunesmithError as exc:
        raise TunesmithError(str(exc).replace("the primer", name, 1)) from None
    rule = codec.constraint() if constrain else None
    if rule is not None:
        try:
            rule.start(1, ids.tolist())
        except TunesmithError as exc:
            raise TunesmithError(f"the model's grammar cannot follow {name}: {exc}") from None
    return tune


def _kept(text: str) -> str:
    """The text a continuation follows: without trailing blank lines (in ABC a blank line ends the
    tune), with the final newline, or the spaces after the last note, the person wrote."""
    body = text.rstrip()
    tail = text[len(body):]
    return body + ("\n" if "\n" in tail else tail)


def _abc_tune(codec: Codec, text: str, name: str) -> Tune:
    """The last tune of an ABC text (a file header's fields hold for it, as in reading), normalised."""
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
    return Tune(kept, shaped)


def _kern_tune(text: str, name: str) -> Tune:
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
    return Tune(kept if kept.endswith("\n") else kept + "\n", body)


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
