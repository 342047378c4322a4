"""Note events: reading scores, the event codec, keys, styles, the parse cache, end to end."""

import json
from pathlib import Path

import numpy as np
import pytest

from tunesmith import TunesmithError, corpus
from tunesmith.cli import main
from tunesmith.codecs import CharCodec, CodecOptions, EventCodec, codec_from_json
from tunesmith.notation import scores


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))


def write_score(path, events, key="C", meter="4/4", fmt="musicxml", parts=None):
    """events: [(pitch names or 'r', quarter length)] → a one-part (or several-part) score file."""
    from music21 import chord, key as m21key, meter as m21meter, note, stream

    score = stream.Score()
    for part_events in parts or [events]:
        part = stream.Part()
        part.append(m21meter.TimeSignature(meter))
        part.append(m21key.Key(key))
        for pitches, ql in part_events:
            if pitches == "r":
                el = note.Rest(quarterLength=ql)
            elif isinstance(pitches, (list, tuple)):
                el = chord.Chord(list(pitches), quarterLength=ql)
            else:
                el = note.Note(pitches, quarterLength=ql)
            part.append(el)
        score.insert(0, part)
    score.write(fmt, fp=str(path))
    return Path(path)


def parts_of(path, parts="melody"):
    result = scores.read_files([Path(path)], scores.ReaderSettings(parts), show_progress=False)
    assert not result.skipped, result.skipped
    return result.files[str(path)]


def bach_chorales(count):
    from music21 import corpus as m21corpus

    return [p for p in m21corpus.getComposer("bach") if p.suffix == ".mxl"][:count]


def test_codec_round_trip_on_bach_chorales():
    """events → score (MusicXML) → events gives the same tokens, melody and all parts with chords kept."""
    from music21 import converter

    paths = bach_chorales(12)
    for settings, chords in [(scores.ReaderSettings("melody"), "reduce"), (scores.ReaderSettings("all"), "keep")]:
        result = scores.read_files(paths, settings, show_progress=False)
        parts = [p for ps in result.files.values() for p in ps]
        assert len(parts) >= 12
        pieces = [corpus.Piece(p.name, p.text(), "events", {"events": p.to_json()}) for p in parts]
        codec = EventCodec.fit(pieces, CodecOptions(chords=chords, unk_min_count=1))   # every event its own word
        pickups = 0
        for part in parts:
            words = codec.words_of(part)
            again = scores.read_parts(converter.parse(codec.finish(" ".join(words), 1), format="musicxml"),
                                      "again", scores.ReaderSettings("melody"))[0]
            assert codec.words_of(again) == words, part.name
            pickups += part.start > 0
        assert pickups > 0  # pickups stay pickups
    # the encoded piece is framed and decodes to its words
    ids = codec.encode(pieces[0])
    assert ids[0] == codec.BOS and ids[-1] == codec.EOS
    assert codec.decode(ids[1:-1]).split() == codec.words_of(parts[0])
    assert codec_from_json(json.loads(json.dumps(codec.to_json()))).words == codec.words


def test_reader_lines_chords_and_rests(tmp_path):
    path = write_score(tmp_path / "a.musicxml",
                       [("E4", 1), (["C4", "E4", "G4"], 1), ("r", 1), (["C5", "E5"], 0.5), ("D5", 0.5),
                        ("C5", 1.5), ("r", 0.5), ("B4", 2)])
    (part,) = parts_of(path)
    assert [p for p, _, _ in part.events] == [(64,), (60, 64, 67), (), (72, 76), (74,), (72,), (), (71,)]
    onsets = [o for _, o, _ in part.events]
    durations = [d for _, _, d in part.events]
    assert onsets == list(np.cumsum([0] + durations[:-1]))   # onsets are the running sum of durations
    reduce = EventCodec([], "reduce").words_of(part)
    keep = EventCodec([], "keep").words_of(part)
    assert reduce[:3] == ["M:4/4", "K:C", "O:0"]
    # reduce keeps the chord tone nearest the previous melody note
    assert [w.split("_")[0] for w in reduce[3:]] == ["64", "64", "r", "72", "74", "72", "r", "71"]
    assert [w.split("_")[0] for w in keep[3:]] == ["64", "60.64.67", "r", "72.76", "74", "72", "r", "71"]
    assert [w.split("_")[1] for w in keep[3:6]] == ["1", "1/4", "1/2"]     # beat strength from the 4/4 metre
    assert [w.split("_")[2] for w in keep[3:]] == ["1", "1", "1", "1/2", "1/2", "3/2", "1/2", "2"]


def test_off_grid_durations_fall_into_the_fallback_bucket():
    from tunesmith.codecs.events import FALLBACK, quantize_duration

    assert quantize_duration(1.0) == "1" and quantize_duration(0.98) == "1" and quantize_duration(1 / 3) == "1/3"
    assert quantize_duration(1.12) == FALLBACK and quantize_duration(40) == FALLBACK


def test_transposition_to_c_keeps_the_intervals(tmp_path):
    tune = [("D4", 1), ("F#4", 1), ("A4", 1), ("D5", 1), ("C#5", 2), ("B4", 2)]
    path = write_score(tmp_path / "d.musicxml", tune, key="D")
    (original,) = parts_of(path)
    assert (original.tonic, original.mode) == (2, "major")
    loaded = corpus.load(str(path), transpose="C", show_progress=False)
    moved = scores.PartEvents.from_json(loaded.pieces[0].meta["events"])
    assert (moved.tonic, moved.mode, moved.key_name()) == (0, "major", "C")
    before = [p[0] for p, _, _ in original.events]
    after = [p[0] for p, _, _ in moved.events]
    assert after[0] == 60 and np.array_equal(np.diff(before), np.diff(after))
    # a minor piece goes to A minor
    minor = write_score(tmp_path / "e.musicxml", [("E4", 1), ("G4", 1), ("B4", 2)], key="e")
    (moved_minor,) = [scores.PartEvents.from_json(p.meta["events"])
                      for p in corpus.load(str(minor), transpose="C", show_progress=False).pieces]
    assert moved_minor.key_name() == "a" and moved_minor.events[0][0] == (69,)
    # --augment: transposed copies, named by their shift
    copies = corpus.augment(loaded, loaded.pieces, 3)
    assert [c.name.rsplit("@", 1)[1] for c in copies] == ["+1", "-1", "+2"]
    assert scores.PartEvents.from_json(copies[0].meta["events"]).events[0][0] == (61,)
    with pytest.raises(TunesmithError, match="not a key"):
        corpus.load(str(path), transpose="H")


def test_decoding_writes_the_asked_key():
    from music21 import converter

    codec = EventCodec([], "reduce")
    words = "M:3/4 K:C O:2 60_1/4_1 64_1_1 67_1/2_1 72_1/4_1 r_1_1 67_1/2_1 60_1/4_3"
    score = converter.parse(codec.finish(words, 1, key="G"), format="musicxml")
    (part,) = parts_of_score(score)
    assert part.key_name() == "G" and part.time_signature == "3/4" and part.start == 2
    assert [p[0] if p else None for p, _, _ in part.events] == [55, 59, 62, 67, None, 62, 55]  # the nearer G: a fourth down
    minor = converter.parse(codec.finish(words.replace("K:C", "K:a"), 1, key="G"), format="musicxml")
    assert parts_of_score(minor)[0].key_name() == "e"     # G asked, the piece is minor: E minor
    assert "60_1/4_1" in words and codec.score("garbage M:4/4 60_1_1 1_2_3_4") is not None


def parts_of_score(score):
    return scores.read_parts(score, "x", scores.ReaderSettings("melody"))


def test_parts_selection(tmp_path):
    path = write_score(tmp_path / "two.musicxml", None,
                       parts=[[("C5", 2), ("D5", 2)], [("C3", 1), ("G3", 1), ("C3", 2)]])
    assert [p.events[0][0] for p in parts_of(path, "melody")] == [(72,)]
    assert [p.events[0][0] for p in parts_of(path, "all")] == [(72,), (48,)]
    assert [p.events[0][0] for p in parts_of(path, "2")] == [(48,)]
    assert [p.name.endswith(("#part1", "#part2")) for p in parts_of(path, "all")] == [True, True]
    with pytest.raises(TunesmithError, match="--parts"):
        scores.ReaderSettings("top").check()
    result = scores.read_files([path], scores.ReaderSettings("3"), show_progress=False)
    assert "no part 3" in result.skipped[0][1]


def test_midi_is_read_and_a_corrupt_midi_is_skipped(tmp_path):
    good = write_score(tmp_path / "good.mid", [("C4", 1), ("E4", 0.5), ("G4", 0.5), ("C5", 2)], fmt="midi")
    (tmp_path / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage" + bytes(range(50)))
    (tmp_path / "empty.mid").write_bytes(b"")
    loaded = corpus.load(str(tmp_path), show_progress=False)
    assert loaded.format == "events" and len(loaded.pieces) == 1
    part = scores.PartEvents.from_json(loaded.pieces[0].meta["events"])
    assert [p for p, _, _ in part.events] == [(60,), (64,), (67,), (72,)]
    assert [d for _, _, d in part.events] == [1, 0.5, 0.5, 2]
    reasons = dict(loaded.skipped)
    assert set(reasons) == {str(tmp_path / "corrupt.mid"), str(tmp_path / "empty.mid")}
    assert all(reason for reason in reasons.values())
    assert str(good) not in reasons


def test_parse_cache_hit_on_the_second_run(tmp_path):
    paths = [write_score(tmp_path / f"t{i}.musicxml", [("C4", 1), ("D4", 1), (f"E{i % 3 + 4}", 2)])
             for i in range(5)]
    first = scores.read_files(paths, scores.ReaderSettings(), show_progress=False, workers=2)
    assert (first.cached, first.parsed) == (0, 5)
    second = scores.read_files(paths, scores.ReaderSettings(), show_progress=False)
    assert (second.cached, second.parsed) == (5, 0)
    assert [p.to_json() for ps in second.files.values() for p in ps] == \
           [p.to_json() for ps in first.files.values() for p in ps]
    # other reader settings are another cache entry; a damaged entry is parsed again
    assert scores.read_files(paths, scores.ReaderSettings("all"), show_progress=False).parsed == 5
    for entry in scores.cache_dir().rglob("*.json"):
        entry.write_text("{not json")
    assert scores.read_files(paths[:1], scores.ReaderSettings(), show_progress=False).parsed == 1
    # a file moved elsewhere is still a hit, under its new name
    moved = tmp_path / "moved.musicxml"
    moved.write_bytes(paths[0].read_bytes())
    hit = scores.read_files([moved], scores.ReaderSettings(), show_progress=False)
    assert hit.cached == 1 and hit.files[str(moved)][0].name == str(moved)


def test_style_corpora(tmp_path, capsys):
    for style, notes in [("bach", ["C4", "D4", "E4", "F4"]), ("chopin", ["A4", "G#4", "A4", "C5"])]:
        (tmp_path / "corpus" / style).mkdir(parents=True)
        for i in range(3):
            write_score(tmp_path / "corpus" / style / f"{i}.musicxml", [(n, 1) for n in notes[i:]] + [("C4", 2)])
    loaded = corpus.load(str(tmp_path / "corpus"), show_progress=False)
    assert loaded.styles == ["bach", "chopin"]
    assert sorted(p.meta["style"] for p in loaded.pieces) == ["bach"] * 3 + ["chopin"] * 3
    codec = EventCodec.fit(loaded.pieces, styles=loaded.styles)
    ids = codec.encode(loaded.pieces[0])
    assert codec.symbols[ids[1]] == f"<style:{loaded.pieces[0].meta['style']}>"
    with pytest.raises(TunesmithError, match="knows: bach, chopin"):
        codec.encode_primer("", "mozart")
    # STYLE=CORPUS names styles by hand; text corpora take styles too
    (tmp_path / "a.abc").write_text("X:1\nT:a\nM:4/4\nL:1/8\nK:D\nABcd efga|\n")
    (tmp_path / "b.abc").write_text("X:1\nT:b\nM:6/8\nL:1/8\nK:G\nGAB GAB|\n")
    text = corpus.load([f"reels={tmp_path / 'a.abc'}", f"jigs={tmp_path / 'b.abc'}"], show_progress=False)
    assert text.format == "abc" and text.styles == ["jigs", "reels"]
    chars = CharCodec.fit(text.pieces, styles=text.styles)
    assert chars.decode(chars.encode(text.pieces[0])[1:-1]) == text.pieces[0].text
    with pytest.raises(TunesmithError, match="every one as STYLE=CORPUS"):
        corpus.load([f"reels={tmp_path / 'a.abc'}", str(tmp_path / "b.abc")], show_progress=False)

    # one model for both styles; sample in one of them; an unknown style lists the known ones
    run = tmp_path / "run"
    assert main(["-q", "train", "--corpus", str(tmp_path / "corpus"), "--out", str(run), "--steps", "80",
                 "--hidden", "32", "--layers", "1", "--eval-every", "40", "--valid-fraction", "0",
                 "--lr", "0.02"]) == 0
    capsys.readouterr()
    assert main(["-q", "sample", str(run), "-n", "2", "--style", "chopin", "-o", str(tmp_path / "out"),
                 "--seed", "1", "--max-length", "40"]) == 0
    assert len(list((tmp_path / "out").glob("*.musicxml"))) == 2 and len(list((tmp_path / "out").glob("*.mid"))) == 2
    assert main(["-q", "sample", str(run), "--style", "mozart", "-o", str(tmp_path / "out")]) == 2
    assert "unknown style 'mozart'; this model knows: bach, chopin" in capsys.readouterr().err
    # without --style the model picks one and says which
    assert main(["-q", "sample", str(run), "-n", "3", "-o", str(tmp_path / "free"), "--seed", "2",
                 "--max-length", "40"]) == 0
    assert capsys.readouterr().out.count("(style ") == 3


def test_train_on_chorales_and_sample_a_midi_melody(tmp_path, capsys):
    """End to end: seconds of training on a few chorales, then a MIDI file with rhythm and a tune."""
    from music21 import converter

    folder = tmp_path / "chorales"
    folder.mkdir()
    for path in bach_chorales(16):
        (folder / path.name).write_bytes(path.read_bytes())
    run = tmp_path / "run"
    assert main(["-q", "train", "--corpus", str(folder), "--transpose", "C", "--out", str(run), "--steps", "150",
                 "--hidden", "96", "--layers", "2", "--eval-every", "50", "--lr", "0.01"]) == 0
    card = json.loads((run / "best" / "card.json").read_text())
    assert card["codec"] == "events" and card["transpose"] == "C" and card["val_bits"] is not None
    capsys.readouterr()
    assert main(["-q", "sample", str(run), "-n", "3", "-o", str(tmp_path / "out"), "--seed", "4",
                 "--key", "F"]) == 0
    midis = sorted((tmp_path / "out").glob("*.mid"))
    assert len(midis) == 3
    best = max(midis, key=lambda p: len(converter.parse(p).flatten().notes))
    notes = list(converter.parse(best).flatten().notes)
    assert len({n.quarterLength for n in notes}) > 1
    assert len({p.midi for n in notes for p in n.pitches}) > 3
    xml = converter.parse(sorted((tmp_path / "out").glob("*.musicxml"))[0])
    assert xml.recurse().getElementsByClass("Key")[0].sharps in (-1,)     # F major or D minor
    # a second run on the same corpus parses nothing
    result = scores.read_files(sorted(folder.iterdir()), scores.ReaderSettings(), show_progress=False)
    assert result.parsed == 0 and result.cached == 16
    # --key is refused for text models, an unknown key is a clear error
    assert main(["-q", "sample", str(run), "--key", "H", "-o", str(tmp_path / "out")]) == 2
    assert "not a key" in capsys.readouterr().err
