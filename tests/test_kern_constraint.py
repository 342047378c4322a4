"""The **kern grammar (codecs/kern_grammar.py): real pieces are accepted token by token; what would
break the spines or the bar is forbidden; controls force the meter and key lines."""

from pathlib import Path

import pytest
import torch

from tunesmith import TunesmithError
from tunesmith.codecs.base import Piece
from tunesmith.codecs.chars import CharCodec, read_file
from tunesmith.codecs.kern_grammar import KernConstraint, kern_controls
from tunesmith.notation import kern

from conftest import shared

SCORE = """**kern\t**kern
*clefF4\t*clefG2
*k[b-]\t*k[b-]
*F:\t*F:
*M3/4\t*M3/4
4F\t8a
.\t8cc
=1\t=1
2.F\t4ff
.\t(8ee
.\t8dd)
.\t4cc
=2\t=2
4F 4A\t4.cc
2G\t.
.\t4.b-
=3:|!\t=3:|!
2F\t2a
==\t==
*-\t*-
"""


def piece(text: str, name: str = "p") -> Piece:
    body, header = kern.strip(text)
    return Piece(name, body, "kern", {"header": header.to_json()})


@pytest.fixture(scope="module")
def codec():
    other = SCORE.replace("*M3/4", "*M2/2").replace("*F:", "*g:").replace("*k[b-]", "*k[b-e-]")
    # the symbols of splits, merges, whole and grace notes, twice (a symbol seen once is learned as <unk>)
    extra = Piece("x", "*M2/2\t*M2/2\n*^\t*\n1F\t1A\t1a\n*v\t*v\t*\n16qG\t.\n@\n" * 2, "kern",
                  {"header": kern.KernHeader(["**kern", "**kern"]).to_json()})
    return CharCodec.fit([piece(SCORE), piece(other, "q"), extra])


def after(rule: KernConstraint, codec, text: str) -> set[str]:
    """The symbols the grammar allows after `text` (which it must allow)."""
    ids = [codec.BOS] + [codec.index[c] for c in text]
    assert rule.accepts(ids) is None, f"forbidden: {text!r}"
    mask = rule.allowed()[0]
    return {codec.symbols[i] for i in range(len(codec.symbols)) if bool(mask[i])}


HEAD = "*M3/4\t*M3/4\n*F:\t*F:\n*k[b-]\t*k[b-]\n"


def test_the_training_body_is_accepted_and_ends_only_after_a_marker(codec):
    rule = KernConstraint(codec)
    body = piece(SCORE).text
    assert body.startswith(HEAD) and body.endswith("@=\n")
    assert rule.accepts(codec.encode(piece(SCORE)).tolist()) is None
    assert "</s>" in after(rule, codec, body)
    assert "</s>" not in after(rule, codec, HEAD + "4F\t8a\n")       # in the middle of a bar
    assert "</s>" not in after(rule, codec, HEAD + "4F\t8a\n.\t8cc\n@")   # in the middle of a marker line


def test_a_line_has_one_field_per_spine(codec):
    rule = KernConstraint(codec)
    assert "\n" not in after(rule, codec, HEAD + "4F")            # one field on a line of two spines
    assert "\t" not in after(rule, codec, HEAD + "4F\t8a")        # a third field
    # after a split there are three spines: the line after it needs three fields
    split = HEAD + "*^\t*\n"
    assert "\n" not in after(rule, codec, split + "4F\t4A")
    assert "\t" not in after(rule, codec, split + "4F\t4A\t4a")
    assert "\n" in after(rule, codec, split + "4F\t4A\t4a")
    # a merge needs its partner
    assert "\n" not in after(rule, codec, split + "4F\t4A\t4a\n*v")
    assert after(rule, codec, split + "4F\t4A\t4a\n*v\t*") == {"v"}
    # a voice split off the first spine merges back with its sibling, not into the second spine,
    # which never split (music21 runs such a voice over its bars)
    assert "v" not in after(rule, codec, split + "4F\t4A\t4a\n*\t*")
    assert "v" in after(rule, codec, split + "4F\t4A\t4a\n*")


def test_a_short_bar_needs_its_styled_neighbour_with_the_voices_merged(codec):
    # music21 gives a part whose voices are still split at a barline no repeat or final barline: the
    # short bar before it would stand alone, so the voices merge first
    rule = KernConstraint(codec)
    short = HEAD + "2.F\t2.a\n@\n2F\t2a\n@\n*^\t*\n2.F\t2.A\t2.a\n"
    # no marker may begin (none could end its line: a sampler that began one met a dead end)
    assert "@" not in after(rule, codec, short)
    assert "\n" in after(rule, codec, short + "*v\t*v\t*\n@:|!")
    # voices each split again and merged back are still two voices (sample piece-024)
    nested = (HEAD + "2.F\t2.a\n@\n2F\t2a\n@\n*^\t*\n*^\t*\t*\n*v\t*v\t*\t*\n*\t*^\t*\n*\t*v\t*v\t*\n"
              "2.F\t2.A\t2.a\n")
    assert "@" not in after(rule, codec, nested)
    assert "@" in after(rule, codec, nested + "*v\t*v\t*\n")


def test_voices_of_two_spines_merge_only_before_the_last_bar(codec):
    # music21 runs the other voice of the second spine over every bar after the next marker: that
    # marker is the last (the sonatas merge so just before their final barline)
    rule = KernConstraint(codec)
    both = HEAD + "*^\t*\n2.F\t2.A\t2.a\n@\n*\t*\t*^\n2.F\t2.A\t2.a\t2.cc\n@\n"
    assert "v" in after(rule, codec, both + "*\t*")
    crossed = both + "*\t*v\t*v\t*\n*v\t*v\t*\n2.F\t2.a\n@\n"
    assert after(rule, codec, crossed) == {"</s>"}
    # and not after a short bar: music21 gives the last bar no final barline then, which the short
    # bar needs beside it
    short = HEAD + "*^\t*\n2.F\t2.A\t2.a\n@\n*\t*\t*^\n2F\t2A\t2a\t2cc\n@\n"
    assert "v" not in after(rule, codec, short + "*\t*")
    assert "v" in after(rule, codec, short + "*")
    kept = both + "*v\t*v\t*\t*\n*\t*v\t*v\n2.F\t2.a\n@\n"     # each spine's voices merged
    assert {"2", "*"} <= after(rule, codec, kept)


def test_a_note_may_not_overflow_its_bar_or_start_while_the_last_sounds(codec):
    rule = KernConstraint(codec)
    full = HEAD + "2.F\t2a\n"
    # the first voice's dotted half fills the 3/4 bar; the second voice has a quarter left
    assert "a" in after(rule, codec, full + ".\t4")
    assert "a" not in after(rule, codec, full + ".\t2")             # a half overflows (24, a triplet, not)
    assert "." not in after(rule, codec, full + ".\t4")             # a dotted quarter overflows
    # the first voice, full, may only add a grace note: `4F` must become `4Fq`
    assert "\t" not in after(rule, codec, full + "4F") and "q" in after(rule, codec, full + "4F")
    assert "\t" in after(rule, codec, full + "4Fq")
    # while the second voice's half note sounds, it holds (`.`) or adds a grace note
    assert "." in after(rule, codec, HEAD + "4F\t2a\n4G\t")
    assert "\t" not in after(rule, codec, HEAD + "4F\t2a\n4G\t4a")
    assert "." in after(rule, codec, HEAD + "2F\t2")                 # a dotted half fills the bar exactly
    assert "." not in after(rule, codec, HEAD + "2F\t2.")


def test_a_marker_only_when_every_voice_fills_the_bar(codec):
    rule = KernConstraint(codec)
    first_bar = HEAD + "2.F\t2.a\n@\n"
    assert "@" not in after(rule, codec, first_bar + "2.F\t2a\n")        # the voices do not end together
    assert "@" not in after(rule, codec, first_bar + "2.F\t2a\n.\t8b-\n")
    assert "@" in after(rule, codec, first_bar + "2.F\t2a\n.\t4b-\n")
    assert "@" in after(rule, codec, HEAD + "4F\t4a\n")                  # a pickup may be short
    # a short bar that is not the first is the last, or the barline after the next bar is a repeat's
    short = first_bar + "2F\t2a\n@\n"
    assert "</s>" in after(rule, codec, short)
    whole = short + "4F\t4a\n4G\t4b-\n4A\t4cc\n"
    assert after(rule, codec, whole + "@\n") == {"</s>"}                # a plain barline: the piece ends
    assert "*" in after(rule, codec, whole + "@:|!\n")                    # a repeat's: it may go on
    # a short bar beside a repeat sign is no debt
    assert "*" in after(rule, codec, first_bar + "2F\t2a\n@:|!\n4F\t4a\n@\n")


def test_controls_force_the_meter_and_key(codec):
    known = kern_controls([piece(SCORE), piece(SCORE.replace("*M3/4", "*M2/2"), "q")])
    assert known == {"meter": {"3/4": 1, "2/2": 1}, "key": {"F": 2}}
    rule = KernConstraint(codec, {"meter": "2/2"}, known=known)
    assert after(rule, codec, "") == {"*"}
    assert after(rule, codec, "*") == {"M"}
    assert after(rule, codec, "*M") == {"2"}
    assert after(rule, codec, "*M2/2") == {"\t"}
    assert after(rule, codec, "*M2/2\t") == {"*"}
    # the bar follows the forced meter: a whole note fills it
    assert "@" in after(rule, codec, "*M2/2\t*M2/2\n*F:\t*F:\n1F\t1a\n")
    rule = KernConstraint(codec, {"key": "g"}, known=None)
    assert after(rule, codec, "*M3/4\t*M3/4\n") == {"*"}
    assert after(rule, codec, "*M3/4\t*M3/4\n*") == {"g"}
    assert after(rule, codec, "*M3/4\t*M3/4\n*g") == {":"}
    with pytest.raises(TunesmithError, match=r"knows no --meter '5/4'; it knows: 3/4 \(1\), 2/2 \(1\)"):
        KernConstraint(codec, {"meter": "5/4"}, known=known)
    with pytest.raises(TunesmithError, match="--meter takes"):
        KernConstraint(codec, {"meter": "fast"})
    with pytest.raises(TunesmithError, match="takes --meter and --key"):
        KernConstraint(codec, {"rhythm": "jig"})


def test_shared_masks_are_the_masks_of_each_state(codec):
    """States share a mask by their view (`_view`): along a piece, every state's own mask is the one it got."""
    rule = KernConstraint(codec)
    check = KernConstraint(codec)
    ids = codec.encode(piece(SCORE)).tolist()
    rule.start(1, ids[:1])
    for token in ids[1:]:
        state = rule.rows[0]
        shared_mask = rule.allowed()[0]
        own = [check.follow(state, t) is not None for t in range(len(codec.symbols))]
        assert shared_mask.tolist() == own
        rule.advance(torch.tensor([token]))


# ---- real pieces: every piece `tunesmith check` passes is accepted ------------------------------------

def _rejected(pieces: list[Piece], sample: list[Piece]) -> list[tuple[Piece, int]]:
    """The pieces of `sample` the grammar of a codec fitted on `pieces` rejects, with the position."""
    codec = CharCodec.fit(pieces)
    rule = KernConstraint(codec)
    out = []
    for p in sample:
        at = rule.accepts(codec.encode(p).tolist())
        if at is not None:
            out.append((p, at))
    return out


def _must_fail_check(rejected: list[tuple[Piece, int]]) -> None:
    """A piece the grammar rejects is one `tunesmith check` rejects too (or holds a character the codec
    learned as <unk>)."""
    from tunesmith import check

    passing = [p for p, _ in rejected if r_valid(check, p)]
    assert not passing, [(p.name, at) for p, at in rejected if p in passing]


def r_valid(check, p: Piece) -> bool:
    reports = check.check([p.name], show_progress=False, timeout=120)
    return all(r.valid for r in reports)


def test_mozart_movements_that_pass_check_are_accepted():
    folder = shared("mozart-kern")
    pieces = [p for f in sorted(folder.glob("*.krn")) for p in read_file(f, "kern")[0]]
    _must_fail_check(_rejected(pieces, pieces[::7]))


def test_palestrina_pieces_that_pass_check_are_accepted():
    music21_corpus = pytest.importorskip("music21.corpus")
    files = sorted(Path(p) for p in music21_corpus.getComposer("palestrina"))
    if not files:
        pytest.skip("music21's Palestrina corpus is not installed")
    pieces = [p for f in files[::10] for p in read_file(f, "kern")[0]]
    _must_fail_check(_rejected(pieces, pieces[::4]))


def test_a_model_that_never_saw_a_grace_note_holds_a_sounding_voice():
    codec = CharCodec.fit([piece(SCORE), piece(SCORE, "again")])
    assert "q" not in codec.symbols
    rule = KernConstraint(codec)
    assert after(rule, codec, HEAD + "4F\t2a\n4G\t") == {"."}


def test_no_state_is_a_dead_end(codec):
    """Random walks through the grammar (any allowed symbol but the end): the end is never the only way
    out of a state where the piece may not end."""
    import random

    rng = random.Random(3)
    for walk in range(20):
        rule = KernConstraint(codec, {"meter": "3/4"} if walk % 3 == 0 else {})
        rule.start(1, [codec.BOS])
        for _ in range(300):
            mask = rule.allowed()[0]
            ok = [i for i in range(len(mask)) if mask[i]]
            assert ok != [codec.EOS] or rule.can_end(rule.rows[0]), rule.rows[0]
            token = rng.choice([i for i in ok if i != codec.EOS] or ok)
            if token == codec.EOS:
                break
            rule.advance(torch.tensor([token]))


def test_the_spines_of_a_meter_line_change_to_one_bar(codec):
    # each field's digits must still lead to the bar the fields before it set (a sampler that wrote
    # `*M1/4\t*M3/1` met a dead end: no denominator makes 3/1x a quarter)
    rule = KernConstraint(codec)
    change = HEAD + "2.F\t2.a\n@\n*M1/4\t*M"
    allowed = after(rule, codec, change)
    assert {"1", "2", "4"} <= allowed and "3" not in allowed
    assert "4" in after(rule, codec, change + "1/")
    assert "\n" in after(rule, codec, change + "2/8")
