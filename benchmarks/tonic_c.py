"""ABC books with every tune moved to the tonic C (folk-rnn's reading), for a held-out-books experiment.

    python benchmarks/tonic_c.py ../shared/data/nottingham-abc/ashover.abc ../shared/data/nottingham-abc/hpps.abc --out held-c
    tunesmith train --corpus nine-c --steps 5700 --out runs/nine-toC       # nine-c: the other books, moved the same way
    tunesmith evaluate runs/nine-toC --data held-c --json                  # total bits: bits_per_token x tokens

Each tune moves by the nearest shift that puts its first K: tonic on C (-6 to +5 semitones; K:G up a
fourth, K:D down a tone; the mode stays: K:Ador becomes K:Cdor), with notation/abc_transpose.py, which
moves notes, accidentals, chord symbols and inline keys exactly. A tune already on C, or one it cannot
move exactly (no tonic, a note that would need a triple sharp), is copied as it is. Text outside the
tunes (a book's preamble) is kept. Compare the held-out books' total bits with those of a model on the
books as written, per character of the books as written: the characters differ (octave marks come and
go), and a moved tune has lost its key, about 3.6 bits a tune.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tunesmith.notation.abc import key_parts, split_book  # noqa: E402
from tunesmith.notation.abc_transpose import LETTERS, NATURAL, transpose  # noqa: E402

KEY_LINE = re.compile(r"(?m)^K:(.*)$")


def shift_to_c(tune: str) -> int | None:
    """Semitones (-6..5) that move the tune's first K: tonic to C, or None without a tonic."""
    found = KEY_LINE.search(tune)
    parts = key_parts(found.group(1)) if found else None
    if parts is None:
        return None
    tonic = parts[0]
    pitch = NATURAL[LETTERS.index(tonic[0])] + {"#": 1, "b": -1}.get(tonic[1:], 0)
    return (6 - pitch) % 12 - 6


def book_to_c(text: str) -> tuple[str, dict[str, int]]:
    """A book's text with its tunes moved to C, and how many tunes were moved, already on C or kept."""
    counts = {"moved": 0, "on C": 0, "kept": 0}
    header, tunes = split_book(text)
    out = ["\n".join(header)] if header else []
    for lines in tunes:
        tune = "\n".join(lines)
        shift = shift_to_c(tune)
        moved = None if not shift else transpose(tune, shift)
        counts["on C" if shift == 0 else "kept" if moved is None else "moved"] += 1
        out.append(tune if moved is None else moved)
    return "\n".join(out), counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("books", nargs="+", type=Path, help="ABC files, or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="folder for the moved copies (same file names)")
    args = parser.parse_args(argv)
    files = [f for b in args.books for f in (sorted(b.glob("*.abc")) if b.is_dir() else [b])]
    missing = [str(f) for f in files if not f.is_file()]
    if missing or not files:
        print(f"error: no such ABC file: {', '.join(missing) or 'none given'}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    total = {"moved": 0, "on C": 0, "kept": 0}
    for f in files:
        if (args.out / f.name).resolve() == f.resolve():
            print(f"error: {f} would be written over; choose another --out", file=sys.stderr)
            return 2
        text, counts = book_to_c(f.read_text(encoding="utf-8", errors="replace"))
        (args.out / f.name).write_text(text, encoding="utf-8")
        total = {k: total[k] + counts[k] for k in total}
    print(f"{len(files)} books: {total['moved']} tunes moved to C, {total['on C']} on C already, "
          f"{total['kept']} kept as written (no tonic, or not movable exactly); copies in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
