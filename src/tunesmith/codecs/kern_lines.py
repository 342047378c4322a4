"""The **kern reader's lines: line starts, measure markers and interpretation lines"""

from __future__ import annotations

from tunesmith.codecs.kern_tokens import (MAX_INTERPRETATIONS, MAX_SPINES, State, meter_ticks)


class KernLines:
    """The **kern reader's lines (a part of KernConstraint)."""

    def _line_start(self, s: State, ch: str):
        base = s._replace(field=0, ltime=0, note=False, codes=(), after_marker=False)
        if ch == "*":
            if s.interps >= MAX_INTERPRETATIONS:
                return None
            forced = self._forced(s)
            fs = ("F", 1) if forced is not None else ("*",)
            return base._replace(line="i", fs=fs, interps=s.interps + 1)
        if s.kinds is None or s.bar == 0 or self._forced(s) is not None:
            return None       # the meter line comes first, the forced lines before any music
        if ch == "@":
            at = self._marker_at(s)
            return None if at is None else base._replace(line="m", fs=("",), ltime=at)
        ltime = min((p for p, k in zip(s.pos, s.kinds) if k), default=0)
        return self._data(base._replace(line="d", ltime=ltime, fs=()), ch)

    def _marker_at(self, s: State) -> int | None:
        """Where in the bar a marker would close it, or None where it may not: the voices do not end
        together, the bar is empty (no music between two markers), or a short bar owes this marker a
        style, which voices still split cannot give (no style could end its line)."""
        kern_pos = {p for p, k in zip(s.pos, s.kinds) if k}
        if len(kern_pos) != 1 or (s.owe and any(s.split)):
            return None
        at = kern_pos.pop()
        return at if 0 < at <= s.bar else None

    def _end_line(self, s: State) -> State:
        return s._replace(line="", field=0, ltime=0, note=False, codes=(), fs=(), head=min(s.head + 1, 3),
                          interps=s.interps if s.line == "i" else 0)

    # ---- markers ----------------------------------------------------------------------------------

    def _marker(self, s: State, ch: str):
        style = s.fs[0]
        if ch == "\n":
            if style not in self.styles:
                return None
            # (voices still split at a barline, or two spines' voices merged in its bar: music21 gives
            # their part no styled barline, so it splits no short bar beside it)
            styled = style != "" and not any(s.split) and not s.cross
            owe, must_end = False, False
            if s.owe and not styled:
                if any(s.split):           # music21 gives voices split at the end no final barline
                    return None
                must_end = True            # the short bar before needs this barline styled: it is the last
            must_end = must_end or s.cross     # voices of two first-line spines merged in this bar
            if s.ltime < s.bar and not (s.first or s.styled1 or s.styled2 or styled):
                owe = True                 # a short bar: the next barline is styled, or this one is the last
            done = self._end_line(s)
            return done._replace(pos=tuple(0 for _ in s.pos), first=False, styled2=s.styled1, styled1=styled,
                                 owe=owe, must_end=must_end, after_marker=True)
        grown = style + ch
        if not any(st.startswith(grown) for st in self.styles if st):
            return None
        return s._replace(fs=(grown,))

    # ---- interpretation lines ---------------------------------------------------------------------

    def _interpretation(self, s: State, ch: str):
        fs = s.fs
        if ch in "\t\n":
            code = self._field_code(s)
            if code is None:
                return None
            return self._interpretation_field_end(s, code, ch)
        if fs == ():                      # a new field
            if ch != "*":
                return None
            forced = self._forced(s)
            return s._replace(fs=("F", 1) if forced is not None else ("*",))
        kind = fs[0]
        if kind == "F":                   # a forced line: `*` or the forced text
            forced = self._forced(s)
            if fs[1] < len(forced) and forced[fs[1]] == ch:
                return s._replace(fs=("F", fs[1] + 1))
            return None
        if s.head == 0:                   # the meter line: `*` or `*Mn/d`
            if kind == "*":
                return s._replace(fs=("M", "", None)) if ch == "M" else None
            return self._meter_char(s, ch)
        if kind == "*":
            if s.codes and s.codes[-1] == "v?" and ch != "v":
                return None               # a merge needs its partner
            if ch == "^":
                if len(s.kinds) + s.codes.count("^") >= MAX_SPINES:
                    return None
                return s._replace(fs=("^",))
            if ch == "v":
                return s._replace(fs=("v",)) if self._can_merge(s) else None
            if ch == "M":
                return s._replace(fs=("M", "", None)) if self._bar_start(s) else None
            # ends, adds and exchanges of spines (`*-`, `*+`, `*x`) are not for a sample
            return s._replace(fs=("o", ch)) if ch in self.interpretation_prefixes else None
        if kind in ("^", "v"):
            return None
        if kind == "M":
            return self._meter_char(s, ch)
        if kind == "o":
            grown = fs[1] + ch
            return s._replace(fs=("o", grown)) if grown in self.interpretation_prefixes else None
        return None

    def _meter_char(self, s: State, ch: str):
        _, num, den = s.fs
        if den is None and num == "" and not ch.isdigit():
            # `*MM120` (tempo) and other fields that start with M, but not in the meter line
            return s._replace(fs=("o", "M" + ch)) if s.head > 0 and "M" + ch in self.interpretation_prefixes else None
        if den is None:
            if ch.isdigit() and len(num) < 2 and not (num == "" and ch == "0") and self._meter_can(s, num + ch, None):
                return s._replace(fs=("M", num + ch, None))
            if ch == "/" and num and self._meter_can(s, num, ""):
                return s._replace(fs=("M", num, ""))
            return None
        if ch.isdigit() and self._meter_can(s, num, den + ch):
            return s._replace(fs=("M", num, den + ch))
        return None

    def _meter_can(self, s: State, num: str, den: str | None) -> bool:
        """Whether a meter written so far as `num` (its digits; None: the denominator not begun) and
        `den` can still become one of a bar the model can write, and the same bar as the meters of the
        fields before it on the line (all the spines change meter together)."""
        nums = [num] + ([num + d for d in "0123456789"] if den is None and len(num) < 2 else [])
        dens = [d for d in self.denominators if den is None or d.startswith(den)]
        for n in nums:
            for d in dens:
                ticks = meter_ticks(int(n), int(d))
                if ticks and (not s.ltime or ticks == s.ltime):
                    return True
        return False

    def _field_code(self, s: State):
        """What a finished interpretation field does: "^", "v", ("M", ticks, "3/4"), "" (nothing to the spines),
        or None where the field is not finished or not allowed."""
        fs = s.fs
        if fs == ():
            return None
        kind = fs[0]
        if kind == "F":
            forced = self._forced(s)
            if fs[1] == len(forced):
                if s.head == 0:
                    num, den = forced[2:].split("/")
                    return ("M", meter_ticks(int(num), int(den)), forced[2:])
                return ""
            if fs[1] == 1 and s.field > 0:
                return ""             # a bare `*` beside the forced fields
            return None
        if kind == "*":
            if s.head == 0 and s.field == 0:
                return None           # the meter line starts with the meter
            if s.codes and s.codes[-1] == "v?":
                return None
            return ""
        if kind in ("^", "v"):
            return kind
        if kind == "M":
            _, num, den = fs
            if den not in self.denominators:
                return None
            ticks = meter_ticks(int(num), int(den))
            return ("M", ticks, f"{num}/{den}") if ticks else None
        if kind == "o":
            return "" if fs[1] in self.interpretations else None
        return None

    def _interpretation_field_end(self, s: State, code, ch: str):
        codes = list(s.codes)
        ltime = s.ltime
        if isinstance(code, tuple):
            if ltime and ltime != code[1]:
                return None           # the fields of one line agree on the meter
            ltime = code[1]
            code = "M" + code[2]
        if code == "v":
            # a merge: the first of a run is "v?" until its partner comes
            code = "v" if codes and codes[-1] in ("v", "v?") else "v?"
            if codes and codes[-1] == "v?":
                codes[-1] = "v"
        codes.append(code)
        field = s.field + 1
        if ch == "\t":
            if s.kinds is not None and field >= len(s.kinds):
                return None
            if s.kinds is None and field >= self.first_width:
                return None
            return s._replace(field=field, codes=tuple(codes), ltime=ltime, fs=())
        # the line ends
        if "v?" in codes:
            return None
        if s.kinds is None:
            if self.widths and field not in self.widths:
                return None           # a number of spines the model never saw: no header to restore it with
            kinds = self.widths.get(field, (True,) * field)
            pos = (0,) * field
            split = ever = (False,) * field
            root, cross = tuple(range(field)), False
        else:
            if field != len(s.kinds):
                return None
            kinds, pos, split, ever, root = [], [], [], [], []
            was = s.ever or (False,) * len(s.kinds)
            came = s.root or tuple(range(len(s.kinds)))
            cross = s.cross
            i = 0
            while i < field:
                c = codes[i]
                if c == "^":
                    kinds += [s.kinds[i]] * 2
                    pos += [s.pos[i]] * 2
                    split += [True, True]
                    ever += [True, True]
                    root += [came[i]] * 2
                    i += 1
                elif c == "v":
                    j = i
                    while j < field and codes[j] == "v":
                        j += 1
                    if len({s.pos[k] for k in range(i, j)}) > 1:
                        return None   # a voice still sounding as it is merged: music21 runs it over the bar
                    kinds.append(s.kinds[i])
                    pos.append(s.pos[i])
                    split.append(False)
                    ever.append(any(was[i:j]))
                    root.append(came[i])
                    cross = cross or len(set(came[i:j])) > 1
                    i = j
                else:
                    kinds.append(s.kinds[i])
                    pos.append(s.pos[i])
                    split.append(s.split[i])
                    ever.append(was[i])
                    root.append(came[i])
                    i += 1
            # a voice is split while another voice of its first-line spine is open: merging two voices
            # split off one of them leaves it a voice beside the other (music21 still closes no bar for it)
            split = [b or root.count(r) > 1 for b, r in zip(split, root)]
            kinds, pos, split, ever, root = tuple(kinds), tuple(pos), tuple(split), tuple(ever), tuple(root)
            if not kinds or len(kinds) > MAX_SPINES or not any(kinds):
                return None
        bar = ltime if ltime else s.bar
        if s.head == 0 and not bar:
            return None
        return self._end_line(s)._replace(kinds=kinds, pos=pos, bar=bar, split=split, ever=ever,
                                         root=root, cross=cross)
