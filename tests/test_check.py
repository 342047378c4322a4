import json

from tunesmith import check, cli

from conftest import shared


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bars_are_read_as_musicians_read_them(tmp_path):
    files = [
        write(tmp_path, "five.abc", "X:1\nT:five\nM:4/4\nL:1/4\nK:C\nCDEF|CDEFG|CDEF|]\n"),
        write(tmp_path, "pickup.abc", "X:1\nT:pickup\nM:6/8\nL:1/8\nK:G\nD|GAB c2d|e3 d2:|\n"),
        write(tmp_path, "endings.abc", "X:1\nT:e\nM:6/8\nL:1/8\nK:G\nD|:GAB c2d|[1 e3 d2:|[2 e3 d3|]\n"),
        write(tmp_path, "short.abc", "X:1\nT:s\nM:3/4\nL:1/4\nK:D\nDEF|DE|DEF|DEF|]\n"),
    ]
    reports = {r.piece: r for r in check.check(files, show_progress=False)}
    five = reports["five"]
    assert not five.valid and five.bars_too_long == 1 and five.bars == 3
    assert five.reasons == ["1 bars longer than the time signature"]
    assert five.notes == 13 and five.lowest == "C4" and five.highest == "G4"
    assert reports["pickup"].valid and reports["pickup"].bars_too_short == 0
    assert reports["endings"].valid
    assert not reports["short"].valid and reports["short"].bars_too_short == 1


def test_a_change_of_meter_is_read_where_it_is_written(tmp_path):
    # music21 drops a lone M: line before a note, ignores an inline [M:], and puts two fields after a bar
    # of chord symbols only at the start of the tune: the bars after them used to read as long or short
    head = "X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc dcBA|d8|"
    bars = "ABc def|ABc def|ABc def|]\n"
    changes = {"lone": "\nM:3/4\n", "inline": "[M:3/4]", "with_key": "\nK:D\nM:3/4\n",
               "after_chords": '"G" "D":||\nP:B\nM:3/4\n', "graced": "\nM:3/4\n{g}"}
    files = [write(tmp_path, f"{name}.abc", head + change + bars) for name, change in changes.items()]
    # a bar of 7/8 after the change, and one of 9/8 in 4/4 (music21 cuts each in two)
    files.append(write(tmp_path, "long.abc", head + "\nM:3/4\nABc def|ABc defg|ABc def|]\n"))
    files.append(write(tmp_path, "long44.abc", "X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc dcBA|d8 e|GABc dcBA|d8|]\n"))
    reports = {r.piece: r for r in check.check(files, show_progress=False)}
    for name in changes:
        assert reports[name].valid and reports[name].bars_too_long == reports[name].bars_too_short == 0, name
    for name in ("long", "long44"):
        assert not reports[name].valid and reports[name].bars_too_long == 1 and not reports[name].bars_too_short


def test_figures_and_chord_symbols(tmp_path):
    path = write(tmp_path, "t.abc", 'X:1\nT:t\nM:4/4\nL:1/4\nQ:1/4=60\nK:C\n"Am"CDEF|"G"GABc|]\n')
    (r,) = check.check([path], show_progress=False)
    assert r.valid and r.notes == 8 and r.lowest == "C4" and r.highest == "C5"
    assert r.seconds == 8.0  # 8 quarter notes at 60 per minute


def test_a_chord_symbol_its_readers_disagree_on_is_invalid(tmp_path):
    # "D m": music21 reads D minor, abc2midi plays D major (it reads the chord up to the space)
    # (and a note after a chord symbol, then a space, is no chord symbol: `"D7"A B2 "G"`)
    text = 'X:1\nT:t\nM:3/4\nL:1/8\nK:G\n"G"g2d B2G|"D m"de=f "C"edc|"D7"A B2 "G"B3|]\n'
    spaced, plain = write(tmp_path, "spaced.abc", text), write(tmp_path, "plain.abc", text.replace("D m", "Dm"))
    reports = {r.piece: r for r in check.check([spaced, plain], show_progress=False)}
    assert reports["plain"].valid
    assert reports["spaced"].reasons == ['chord symbol "D m" has a space after its root (abc2midi plays its '
                                         'major chord)']


def test_writing_a_reader_drops_is_invalid(tmp_path):
    """What passes both readers but does not sound as written: music21 drops a note marked H, a Z rest,
    the note after a ">" annotation; a stray slur; a letter abc2midi ignores; a bar line left out inside
    a line (music21 cuts the bar in two without a word); no bar line at all in a metered tune."""
    head = "X:1\nT:{}\nM:4/4\nL:1/8\nK:G\n"
    good = "ABcd efga|g2f2 e2d2|ABcd efga|g8|]\n"
    bad = {"fermata": ("ABcd Hefga|", "H (a fermata)"),
           "bar-rest": ("ABcd efga|Z|", "Z (a bar's rest)"),
           "invisible": ("ABcd efgx|", "x (an invisible rest)"),
           "right": ('ABcd ">"efga|', "an annotation placed right"),
           "stray-slur": ("ABcd e)fga|", "a slur closed that was never opened"),
           "open-slur": ("ABcd (efga|", "a slur left open"),
           "reserved": ("ABcd kefga|", "abc2midi ignores the reserved character 'k'"),
           "two-bars": ("ABcd efga|ABcd efga ABcd efga|", "abc2midi's bar 1 (from 0) holds 2 bars"),
           "unbarred": ("ABcd efga\nABcd efga\n", "no bar line")}
    files = [write(tmp_path, "good.abc", head.format("good") + good)]
    files += [write(tmp_path, f"{name}.abc", head.format(name) + (written + good if name != "unbarred" else written))
              for name, (written, _) in bad.items()]
    # a bar line left out across a line's end is how the corpora write bars (music21 ends a full bar
    # there); a tune in free meter has no bars
    files.append(write(tmp_path, "lines.abc", head.format("lines") + "ABcd efga\ng2f2 e2d2|ABcd efga|g8|]\n"))
    files.append(write(tmp_path, "free.abc", head.format("free").replace("M:4/4", "M:none") + "ABcd efga\n"))
    reports = {r.piece: r for r in check.check(files, show_progress=False)}
    assert reports["good"].valid and reports["lines"].valid and reports["free"].valid, reports
    for name, (_, reason) in bad.items():
        if name in ("reserved", "two-bars") and reports[name].abc2midi_warnings is None:
            continue      # (abc2midi not installed: its warnings are not there to read)
        assert not reports[name].valid and any(r.startswith(reason) for r in reports[name].reasons), \
            (name, reports[name].reasons)


def test_broken_pieces_are_invalid_with_a_reason(tmp_path):
    files = [write(tmp_path, "bad.abc", 'X:1\nT:bad\nK:C\nzz]]][[[ |||| c4/0/0 "\n'),
             write(tmp_path, "empty.krn", "**kern\n*-\n"),
             write(tmp_path, "what.doc", "hello")]
    reports = check.check(files, show_progress=False)
    assert len(reports) == 3
    assert all(not r.valid and r.reasons for r in reports)


def test_check_cli_json_and_exit_status(tmp_path, capsys):
    good = write(tmp_path, "good.abc", "X:1\nT:g\nM:2/4\nL:1/8\nK:G\nGABc|d2B2|]\n")
    bad = write(tmp_path, "five.abc", "X:1\nT:five\nM:4/4\nL:1/4\nK:C\nCDEF|CDEFG|CDEF|]\n")
    assert cli.main(["-q", "check", str(good)]) == 0
    capsys.readouterr()
    assert cli.main(["-q", "check", "--json", str(good), str(bad)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["piece"], r["valid"]) for r in rows] == [("good", True), ("five", False)]


def test_nottingham_and_mozart_pieces_check(tmp_path):
    reports = check.check([shared("nottingham-abc") / "xmas.abc", shared("mozart-kern") / "sonata01-1.krn"],
                          show_progress=False)
    assert len(reports) == 14
    assert all(r.notes > 0 for r in reports)
    assert sum(r.valid for r in reports) >= 10
    mozart = reports[-1]
    assert mozart.bars >= 100 and mozart.seconds > 60


def test_the_capped_mark_leaves_every_format_readable(tmp_path):
    from music21 import converter, note, stream

    s = stream.Stream([note.Note("C4", quarterLength=1), note.Note("E4", quarterLength=1)])
    xml = (tmp_path / "a.musicxml")
    s.write("musicxml", fp=str(xml))
    texts = {".musicxml": xml.read_text(), ".abc": "X:1\nT:t\nM:2/4\nL:1/4\nK:C\nCE|\n",
             ".krn": "**kern\n*M2/4\n=1\n4c\n4e\n==\n*-\n"}
    for ext, text in texts.items():
        marked = tmp_path / f"marked{ext}"
        marked.write_text(check.mark_capped(text, ext))
        assert check.is_capped(marked) and not check.is_capped(tmp_path / "a.musicxml")
        notes = [n.pitch.nameWithOctave for n in converter.parse(str(marked)).flatten().notes]
        assert notes == ["C4", "E4"], ext
