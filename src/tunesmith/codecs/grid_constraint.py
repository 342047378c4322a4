"""The grid codec's grammar: a sampled piece is a well-formed grid, with bars aligned by construction.

It keeps the canonical order inside a step (pitch layout: each pitch lower than the one before;
voices layout: exactly one slot per voice), lets a held pitch follow only where that pitch sounded
in the step before (in the same voice, for voices), puts a bar token exactly one bar after the
last (the first one anywhere within the first bar: a pickup), and ends a piece only at the end of
a step that closes a bar (or the bar the pickup left short). So the tokens and the roll are one to
one, and every bar of every voice is full.

With `strict` voice leading (voices layout) a voice may not move to a pitch that makes parallel
fifths or octaves with a voice written before it in the step, as the judge finds them (music21's
VoiceLeadingQuartet: similar or contrary motion between perfect fifths, or octaves, compound too).
A voice can always rest or hold, so the rule never leaves a step without a way on. It is a decoding
rule, never applied to a likelihood.

With `bars` N (a metre's model) the piece is exactly N full bars after any pickup: it may not end
before, and it ends when the Nth is full.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from tunesmith import TunesmithError
from tunesmith.codecs.constraint import GrammarCache, GrammarConstraint
from tunesmith.notation.grid import parallels, steps_per_bar

TOP = 128
VOICE_LEADING = ("strict", "free")      # strict: no parallel fifths or octaves
MAX_BARS = 1000


def check_controls(codec, controls: dict[str, str]) -> None:
    """Refuse a --voice-leading or --bars the model cannot take, in one sentence."""
    value = controls.get("voice_leading")
    if value is not None:
        if codec.layout != "voices":
            raise TunesmithError("--voice-leading needs a model whose steps keep their voices (trained with "
                                 "--layout voices)")
        if value not in VOICE_LEADING:
            raise TunesmithError(f"--voice-leading must be {' or '.join(VOICE_LEADING)}, not {value!r}")
    bars = controls.get("bars")
    if bars is not None and not (str(bars).isdigit() and 1 <= int(bars) <= MAX_BARS):
        raise TunesmithError(f"--bars must be a whole number from 1 to {MAX_BARS}, not {bars!r}")


def grammar(codec, controls: dict[str, str]) -> "GridConstraint":
    """The grid grammar for `codec` with its controls: melody (harmonize), voice_leading, bars."""
    check_controls(codec, controls)
    strict = controls.get("voice_leading", "free") == "strict"
    if controls.get("melody") is not None:
        return MelodyConstraint(codec, controls["melody"], strict=strict)
    return GridConstraint(codec, strict=strict, bars=int(controls.get("bars") or 0))


class GridState(NamedTuple):
    header: bool = True          # no step has begun: M:, K:, V: may still come
    bar: int = 0                 # steps per bar (0: no metre, no bar tokens)
    voices: int = 0              # slots per step (voices layout), 0 for the pitch layout
    steps: int = 0               # steps written, counted up to a bar (all the grammar needs to know)
    since: int = -1              # steps since the last bar token (-1: none yet)
    pickup: int = 0              # steps before the first bar token
    barred: bool = False         # this step has its bar token
    marked: bool = False         # this step has its fermata
    filled: int = 0              # pitches (pitch layout) or slots (voices) written in this step
    last: int = TOP              # the last pitch written in this step (pitch layout)
    before: tuple = ()           # the step before: its sounding pitches (pitch layout) or each voice's pitch
    now: tuple = ()              # this step so far, the same way
    lines: int = 0               # bar tokens written (counted only where the piece's length in bars is set)


class GridConstraint(GrammarConstraint):
    # every state leads on: a step can always end, a slot can always rest, a due bar can always come
    NO_DEAD_ENDS = True

    def __init__(self, codec, cache: GrammarCache | None = None, strict: bool = False, bars: int = 0):
        self.step_length = Fraction(codec.grid)
        self.bars = bars                  # the piece is exactly this many full bars (0: the model ends it)
        self.voiced = codec.layout == "voices"
        self.intervals = codec.layout == "intervals"
        self.strict = strict and self.voiced
        # keep the step before where held pitches are told apart or the voice leading is checked
        self.held = codec.onsets or self.strict
        self.marks = (codec.STEP, codec.BAR, codec.FERMATA, codec.SILENT)
        super().__init__(codec.symbols, codec.EOS, codec.never_ids + codec.start_only_ids, cache)

    def initial(self):
        return GridState()

    def can_end(self, s: GridState) -> bool:
        if s.steps == 0 or not self._at_step_start(s):
            return False
        if not s.bar:
            return True
        if self.bars:
            return s.since == s.bar and s.lines == self.bars
        return s.since == s.bar or (s.pickup > 0 and s.since + s.pickup == s.bar) or \
            (s.since == -1 and s.steps < s.bar)

    @staticmethod
    def _at_step_start(s: GridState) -> bool:
        return s.filled == 0 and not s.barred and not s.marked

    def step(self, s: GridState, symbol: str):
        STEP, BAR, FERMATA, SILENT = self.marks
        if symbol[:2] in ("M:", "K:", "V:"):
            return self._header(s, symbol)
        due = s.bar and s.since == s.bar and not s.barred     # a bar is full: its bar token comes first
        if symbol == BAR:
            if not s.bar or s.barred or s.marked or s.filled:
                return None
            lines = s.lines + 1 if self.bars else 0
            if s.since == -1:
                if s.steps >= s.bar:
                    return None
                return s._replace(header=False, since=0, pickup=s.steps, barred=True, lines=lines)
            if self.bars and s.lines >= self.bars:
                return None           # the last bar is full: the piece ends here
            return s._replace(header=False, since=0, barred=True, lines=lines) if s.since == s.bar else None
        if due:
            return None
        if symbol == FERMATA:
            if s.marked or s.filled:
                return None
            return s._replace(header=False, marked=True)
        if symbol == STEP:
            if self.voiced and s.filled != s.voices:
                return None
            since = s.since + 1 if s.since >= 0 else -1
            if s.since == -1 and s.bar and s.steps + 1 >= s.bar:
                return None          # a first bar line must come within the first bar
            return s._replace(header=False, steps=min(s.steps + 1, max(s.bar, 1)), since=since, barred=False, marked=False,
                              filled=0, last=TOP, now=(),
                              before=(s.now if self.voiced else tuple(sorted(s.now))) if self.held else ())
        if symbol == SILENT:
            if not self.voiced or s.filled >= s.voices:
                return None
            return s._replace(header=False, filled=s.filled + 1, now=s.now + (-1,) if self.held else ())
        kind, pitch = symbol[:1], int(symbol[1:]) if symbol[1:].isdigit() else -1
        if symbol[1:2] == "-" and symbol[2:].isdigit():     # an interval down from the pitch above
            if s.last == TOP:
                return None
            pitch = s.last - int(symbol[2:])
        elif self.intervals and s.last != TOP:               # only a step's top pitch is written out
            return None
        if kind not in "nhp" or pitch < 0:
            return None
        if self.voiced:
            if s.filled >= s.voices:
                return None
            if kind == "h" and (s.filled >= len(s.before) or s.before[s.filled] != pitch):
                return None
            if self.strict and s.filled and s.filled < len(s.before) and parallel(s.before, s.now, pitch):
                return None
            return s._replace(header=False, filled=s.filled + 1, now=s.now + (pitch,) if self.held else ())
        if pitch >= s.last or (kind == "h" and pitch not in s.before):
            return None
        return s._replace(header=False, filled=s.filled + 1, last=pitch, now=s.now + (pitch,) if self.held else ())

    def _header(self, s: GridState, symbol: str):
        if not s.header:
            return None
        if symbol.startswith("M:"):
            if s.bar:
                return None
            bar = steps_per_bar(symbol[2:], self.step_length)
            return s._replace(bar=bar) if bar else None
        if symbol.startswith("V:"):
            if not self.voiced or s.voices or not symbol[2:].isdigit() or not 1 <= int(symbol[2:]) <= 16:
                return None
            return s._replace(voices=int(symbol[2:]))
        return s   # K: any number of times is harmless; the codec writes one

    def view(self, s: GridState):
        # the step so far matters only to the step after it, and to the voice leading of the voices to come
        return s if self.strict else s._replace(now=())


def parallel(before: tuple, now: tuple, pitch: int) -> bool:
    """Whether voice len(now) moving from before[len(now)] to `pitch` makes parallel fifths or octaves
    (`notation.grid.parallels`: the judge's music21 test, written out) with a voice above it (now: this
    step's pitches so far, before: the step before's; -1 a rest)."""
    q1 = before[len(now)]
    if q1 < 0 or q1 == pitch:
        return False
    return any(p1 >= 0 and p2 >= 0 and any(parallels(p1, p2, q1, pitch)) for p1, p2 in zip(before, now))


class MelodyConstraint(GridConstraint):
    """The grid grammar with the top voice forced: at each step the first slot is the melody's (a
    note, held or new, or a rest), bars and fermatas come where the melody has them, and the piece
    ends where the melody does. The lower voices are the model's (`tunesmith harmonize`)."""

    def __init__(self, codec, melody: str, cache: GrammarCache | None = None, strict: bool = False):
        super().__init__(codec, cache, strict)     # the melody says how long: no --bars
        self.melody = self._plan(melody)    # per step: (a bar starts, a fermata, the top voice's word)

    def _plan(self, text: str) -> list[tuple[bool, bool, str]]:
        """The melody's words (`GridCodec.harmony_request`) → per step (a bar starts, a fermata, its word)."""
        STEP, BAR, FERMATA, SILENT = self.marks
        plan, bar, fermata, word = [], False, False, SILENT
        for w in text.split():
            if w == BAR:
                bar = True
            elif w == FERMATA:
                fermata = True
            elif w == STEP:
                plan.append((bar, fermata, word))
                bar, fermata, word = False, False, SILENT
            else:
                word = w
        return plan

    def initial(self):
        return (super().initial(), 0)

    def can_end(self, state) -> bool:
        inner, index = state
        return index == len(self.melody) and self._at_step_start(inner)

    def step(self, state, symbol: str):
        inner, index = state
        STEP, BAR, FERMATA, SILENT = self.marks
        if index >= len(self.melody):
            return None
        if symbol[:2] in ("M:", "K:", "V:"):
            after = super().step(inner, symbol)
            return None if after is None else (after, index)
        bar, fermata, word = self.melody[index]
        if (symbol == BAR) != (bar and not inner.barred):       # a bar line exactly where the melody has one
            return None
        if symbol == FERMATA and not fermata or fermata and not inner.marked and symbol not in (BAR, FERMATA):
            return None
        if inner.filled == 0 and symbol not in (BAR, FERMATA) and symbol != word:   # the top voice's slot
            return None
        after = super().step(inner, symbol)
        if after is None:
            return None
        return (after, index + 1 if symbol == STEP else index)

    def view(self, state):
        inner, index = state
        return (super().view(inner), index)


__all__ = ["GridConstraint", "GridState", "MelodyConstraint", "parallel", "grammar", "check_controls"]
