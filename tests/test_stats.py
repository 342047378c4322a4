import json
import math
import re

import numpy as np
import pytest

from tunesmith import TunesmithError
from tunesmith.evaluate import stats
from tunesmith.evaluate.report import write_report

# C4..C5 in quarters
C_MAJOR = [(pitch, float(index), 1.0) for index, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
REPEATED = [(67, float(index) / 2, 0.5) for index in range(9)]
# a melody over chords: the top line is E5 D5 C5 (triplets) C5
CHORDS = [(48, 0.0, 1.0), (64, 0.0, 1.0), (76, 0.0, 1 / 3),
          (74, 1 / 3, 1 / 3), (72, 2 / 3, 1 / 3), (72, 1.0, 1.0), (55, 1.0, 1.0)]


def bin_of(label: str) -> int:
    return [name for name, _ in stats.DURATION_BINS].index(label)


def test_c_major_scale():
    pcs = stats.pitch_class_histogram(C_MAJOR)
    assert np.count_nonzero(pcs) == 7
    assert pcs[0] == pytest.approx(2 / 8)
    for pc in (2, 4, 5, 7, 9, 11):
        assert pcs[pc] == pytest.approx(1 / 8)
    assert stats.pitch_range(C_MAJOR) == 12

    intervals = stats.interval_histogram(C_MAJOR)
    assert intervals.shape == (25,)
    assert intervals[12 + 2] == pytest.approx(5 / 7) and intervals[12 + 1] == pytest.approx(2 / 7)
    assert intervals.sum() == pytest.approx(1.0)

    quarter = bin_of("1")
    assert stats.note_length_histogram(C_MAJOR)[quarter] == 1.0
    assert stats.ioi_histogram(C_MAJOR)[quarter] == 1.0
    assert stats.scale_consistency(C_MAJOR) == 1.0
    # -(1/4 log2 1/4 + 6 * 1/8 log2 1/8) = 0.5 + 2.25
    assert stats.pitch_class_entropy(C_MAJOR) == pytest.approx(2.75)
    assert stats.top_pitch_share(C_MAJOR) == pytest.approx(1 / 8)
    assert stats.longest_repeat(C_MAJOR) == 1


def test_repeated_note_is_collapse():
    assert stats.top_pitch_share(REPEATED) == 1.0
    assert stats.longest_repeat(REPEATED) == 9
    assert stats.pitch_class_entropy(REPEATED) == 0.0
    assert stats.pitch_range(REPEATED) == 0
    assert stats.interval_histogram(REPEATED)[12] == 1.0
    assert stats.ioi_histogram(REPEATED)[bin_of("1/2")] == 1.0


def test_chords_use_the_top_line_and_triplets_land_in_their_bins():
    intervals = stats.interval_histogram(CHORDS)
    assert intervals[12 - 2] == pytest.approx(2 / 3) and intervals[12] == pytest.approx(1 / 3)
    assert stats.longest_repeat(CHORDS) == 2
    iois = stats.ioi_histogram(CHORDS)
    assert iois[bin_of("1/3")] == 1.0
    lengths = stats.note_length_histogram(CHORDS)
    assert lengths[bin_of("1/3")] == pytest.approx(3 / 7) and lengths[bin_of("1")] == pytest.approx(4 / 7)
    assert stats.pitch_range(CHORDS) == 76 - 48


def test_duration_bins_clip_and_round():
    piece = [(60, 0.0, 0.0), (60, 1.0, 0.05), (62, 2.0, 20.0), (64, 3.0, 1.02), (65, 4.0, 1.5)]
    lengths = stats.note_length_histogram(piece)
    assert lengths[bin_of("1/8")] == pytest.approx(2 / 5)
    assert lengths[bin_of("8")] == pytest.approx(1 / 5)
    assert lengths[bin_of("1")] == pytest.approx(1 / 5)
    assert lengths[bin_of("3/2")] == pytest.approx(1 / 5)


def test_large_leaps_clip_into_end_bins():
    intervals = stats.interval_histogram([(40, 0.0, 1.0), (80, 1.0, 1.0), (50, 2.0, 1.0)])
    assert intervals[0] == 0.5 and intervals[-1] == 0.5


def test_scale_consistency_of_a_chromatic_scale():
    chromatic = [(60 + step, float(step), 1.0) for step in range(12)]
    assert stats.scale_consistency(chromatic) == pytest.approx(7 / 12)
    assert stats.pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    a_minor = [(pitch, float(index), 1.0) for index, pitch in enumerate([57, 59, 60, 62, 64, 65, 67, 69])]
    assert stats.scale_consistency(a_minor) == 1.0


def test_empty_piece_does_not_crash():
    for function in (stats.pitch_class_histogram, stats.interval_histogram, stats.note_length_histogram,
                     stats.ioi_histogram):
        assert function([]).sum() == 0
    for function in (stats.pitch_range, stats.pitch_class_entropy, stats.scale_consistency,
                     stats.top_pitch_share, stats.longest_repeat):
        assert function([]) == 0


def test_malformed_piece_is_refused():
    with pytest.raises(TunesmithError):
        stats.pitch_range([(60, 0.0)])


def test_distances():
    p = np.array([0.5, 0.25, 0.25, 0.0])
    q = np.array([0.0, 0.25, 0.25, 0.5])
    assert stats.overlap_area(p, p) == pytest.approx(1.0)
    assert stats.kl_divergence(p, p) == 0.0
    assert stats.overlap_area(p, q) == pytest.approx(0.5)
    assert stats.kl_divergence(p, q) > 1.0
    assert stats.overlap_area([1, 0], [0, 1]) == 0.0
    with pytest.raises(ValueError):
        stats.overlap_area([1, 0], [1, 0, 0])
    assert stats.density_distance([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == (pytest.approx(1.0), 0.0)
    assert stats.density_distance([5.0, 5.0], [5.0]) == (1.0, 0.0)
    overlap, kl = stats.density_distance([0.0, 0.1, 0.2], [10.0, 10.1, 10.2])
    assert overlap < 0.01 and kl > 1.0


def test_compare_with_itself_overlaps_everywhere():
    pieces = [C_MAJOR, REPEATED, CHORDS, [(60, 0.0, 1.0)], []]
    result = stats.compare(pieces, pieces)
    assert result["generated"] == {"pieces": 5, "empty": 1}
    for entry in list(result["histograms"].values()) + list(result["scalars"].values()):
        assert entry["overlap"] == 1.0
        assert entry["kl"] == 0.0
    assert result["histograms"]["interval"]["bins"][0] == "-12"
    assert len(result["scalars"]["pitch_range"]["generated"]["values"]) == 4
    assert result["collapse"]["generated"]["max_longest_repeat"] == 9
    # top shares: 1/8, 1, 2/7 (two C5 in seven notes), 1 -> half the pieces above 0.5
    assert result["collapse"]["generated"]["share_top_pitch_over_half"] == 0.5
    json.dumps(result)


def test_compare_separates_different_sets():
    result = stats.compare([REPEATED] * 3, [C_MAJOR] * 3)
    assert result["histograms"]["pitch_class"]["overlap"] == 0.125    # only G in common
    assert result["scalars"]["top_pitch_share"]["overlap"] < 0.01
    assert result["collapse"]["generated"]["share_top_pitch_over_half"] == 1.0
    assert result["collapse"]["corpus"]["share_top_pitch_over_half"] == 0.0


def test_compare_with_only_empty_pieces():
    result = stats.compare([[], []], [C_MAJOR])
    assert result["generated"]["empty"] == 2
    assert all(entry["overlap"] is None for entry in result["histograms"].values())
    assert all(entry["overlap"] is None for entry in result["scalars"].values())
    json.dumps(result)


def test_report(tmp_path):
    comparison = stats.compare([C_MAJOR, REPEATED, []], [C_MAJOR, CHORDS])
    extra = {"pieces": [{"piece": "<b>tune</b> | one", "valid": True, "novelty": 0.8123},
                        {"piece": "two & more", "valid": False, "reasons": ["bar 3 too long"]}],
             "summary": {"valid": 0.5}}
    written = write_report(tmp_path / "report", comparison, extra, title="A <test>")
    names = set(written)
    assert {"report.json", "report.md", "report.html", "scalars.png"} <= names
    for path in written.values():
        assert path.exists() and path.stat().st_size > 0

    pngs = {name for name in names if name.endswith(".png")}
    assert len(pngs) == 5
    for path in (tmp_path / "report").glob("*.png"):
        assert path.read_bytes().startswith(b"\x89PNG")
    page = (tmp_path / "report" / "report.html").read_text()
    assert set(re.findall(r'<img src="([^"]+)"', page)) == pngs
    assert "&lt;b&gt;tune&lt;/b&gt;" in page and "<b>tune" not in page
    assert "two &amp; more" in page and "A &lt;test&gt;" in page
    assert "http" not in page and "<script" not in page

    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| metric | generated | corpus | distance |" in markdown
    assert "| piece | valid | novelty | reasons |" in markdown
    assert "\\| one" in markdown

    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["comparison"] == comparison
    assert report["extra"] == extra
