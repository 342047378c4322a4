import pytest

from tunesmith.notation import kern

from conftest import shared

SCORE = """!!!COM: Somebody
**kern\t**kern\t**dynam
*staff2\t*staff1\t*staff1/2
*clefF4\t*clefG2\t*
*k[f#]\t*k[f#]\t*
*M3/4\t*M3/4\t*
8G\t8b\tp
8A\t8cc\t.
=1\t=1\t=1
4G\t4d\t.
*^\t*\t*
4A\t4B\t4e\t.
4B\t4c\t4f#\t.
*v\t*v\t*\t*
=2\t=2\t=2
2.G\t2.g\t.
==\t==\t==
*-\t*-\t*-
!!!ENC: someone
"""


def test_strip_drops_comments_preamble_and_marks_measures():
    body, header = kern.strip(SCORE)
    assert header.spines == ["**kern", "**kern", "**dynam"]
    assert header.staff == ["*staff2", "*staff1", "*staff1/2"]
    assert header.clef == ["*clefF4", "*clefG2", "*"]
    lines = body.rstrip("\n").split("\n")
    # the meter and key lines open the body (a model writes them first); then the pickup
    assert lines[:3] == ["*M3/4\t*M3/4\t*", "*k[f#]\t*k[f#]\t*", "8G\t8b\tp"]
    assert lines.count("@") == 2 and lines[-1] == "@="   # the final barline keeps its kind
    assert not any(ln.startswith(("!", "**", "=")) for ln in lines)
    assert "*^\t*\t*" in lines and "*v\t*v\t*\t*" in lines


def test_restore_builds_a_complete_file_with_numbered_barlines():
    body, header = kern.strip(SCORE)
    restored, fixed = kern.restore(body, {3: header})
    lines = restored.rstrip("\n").split("\n")
    assert fixed == 0
    assert lines[0] == "**kern\t**kern\t**dynam"
    assert lines[3:5] == ["*M3/4\t*M3/4\t*", "*k[f#]\t*k[f#]\t*"]  # the body's, once
    assert "=1\t=1\t=1" in lines and "=2\t=2\t=2" in lines
    assert lines[-2] == "==\t==\t=="
    assert lines[-1] == "*-\t*-\t*-"


def test_restore_repairs_data_lines_and_drops_impossible_interpretations():
    body = "4c\t4e\n4d\n4e\t4g\t4b\n*v\t*\n*^\t*\n4f\t4a\t4cc\n@\n"
    restored, fixed = kern.restore(body)
    lines = restored.rstrip("\n").split("\n")
    assert "*M4/4\t*M4/4" in lines  # a body without a meter line: inferred from the bar lengths
    assert fixed == 3  # one short line padded, one long line cut, one lone merge dropped
    assert "4d\t." in lines and "4e\t4g" in lines
    assert "*v\t*" not in lines
    for line in lines:
        assert line.count("\t") in (1, 2)
    assert lines[-1] == "*-\t*-\t*-"  # the split spine is still open at the end


def test_restore_of_nothing_is_an_error():
    with pytest.raises(kern.KernError):
        kern.restore("@\n@\n*\t*\n")


def test_strip_rejects_files_without_kern_spines():
    with pytest.raises(kern.KernError):
        kern.strip("**text\n=1\nhello\n*-\n")


def test_barline_kinds_survive_strip_and_restore():
    text = ("**kern\n*M2/4\n4c\n=1\n2c\n=2:|!\n2d\n=3!|:\n2e\n=4||\n2f\n=5:|!|:\n2g\n==:|!\n*-\n")
    body, _ = kern.strip(text)
    assert [ln for ln in body.split("\n") if ln.startswith("@")] == ["@", "@:|!", "@!|:", "@||", "@:|!|:", "@:|!"]
    restored, _ = kern.restore(body)
    assert [ln for ln in restored.split("\n") if ln.startswith("=")] == ["=1", "=2:|!", "=3!|:", "=4||", "=5:|!|:",
                                                                          "=6:|!"]
    assert kern.barline_style("==") == "=" and kern.barline_style("=7-") == ""
    assert kern.head_values(body) == {"meter": "2/4"}
    assert kern.head_values("*M3/2\t*M3/2\n*G:mix\t*G:mix\n*k[]\t*k[]\n1c\t1e\n") == {"meter": "3/2", "key": "G:mix"}


def test_meter_inference():
    assert kern.infer_meter("4c\n4d\n4e\n@\n4c\n4d\n4e\n@\n") == "*M3/4"
    assert kern.infer_meter("8c\n8d\n8e\n8f\n8g\n8a\n@\n8c\n8d\n8e\n8f\n8g\n8a\n@\n") == "*M3/4"
    assert kern.infer_meter("4.c\n4.d\n4.e\n@\n4.c\n4.d\n4.e\n@\n") == "*M9/8"
    assert kern.token_duration("8.cc") == pytest.approx(0.75)
    assert kern.token_duration("3e") == pytest.approx(4 / 3)
    assert kern.token_duration(".") is None


def test_mozart_round_trip_keeps_every_measure():
    """strip → restore → music21 parses every movement with the same number of measures."""
    from music21 import converter

    folder = shared("mozart-kern")
    files = sorted(folder.glob("*.krn"))
    assert len(files) == 69

    def measures(score):
        return sum(1 for m in score.parts[0].getElementsByClass("Measure") if m.recurse().notesAndRests)

    for path in files:
        text = path.read_text(encoding="utf-8")
        body, header = kern.strip(text)
        restored, fixed = kern.restore(body, {len(header.spines): header})
        assert fixed == 0, path.name
        original = converter.parse(text, format="humdrum")
        again = converter.parse(restored, format="humdrum")
        assert measures(again) == measures(original), path.name


VEROVIO_CHECK = r"""
import sys, verovio
from pathlib import Path
verovio.enableLog(verovio.LOG_OFF)
tk = verovio.toolkit()
tk.setOptions({"inputFrom": "humdrum"})
for path in sys.argv[1:]:
    ok = tk.loadData(Path(path).read_text()) and tk.getPageCount() > 0 and "<svg" in tk.renderToSVG(1)
    print(path, "ok" if ok else "failed")
"""


def test_restored_movements_render_in_verovio(tmp_path):
    """Verovio reads the restored files (in a child process: Verovio can take a process down)."""
    import subprocess
    import sys

    pytest.importorskip("verovio")
    folder = shared("mozart-kern")
    paths = []
    for path in sorted(folder.glob("*.krn"))[::7]:
        body, header = kern.strip(path.read_text(encoding="utf-8"))
        restored, _ = kern.restore(body, {len(header.spines): header})
        out = tmp_path / path.name
        out.write_text(restored)
        paths.append(str(out))
    result = subprocess.run([sys.executable, "-c", VEROVIO_CHECK, *paths], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-500:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(paths) and all(line.endswith(" ok") for line in lines), lines
