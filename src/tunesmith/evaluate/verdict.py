"""Is a piece acceptable? The one verdict `compose`, `select` and `judge` all use.

A piece passes when it is valid by `tunesmith check` (where validity is asked
for) and shares at most `max_copy` notes in a row with one piece of the
training corpus (the copy guard; where there is a corpus index).
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.evaluate.novelty import NoveltyIndex

FAILED_CHECK = "failed the check"


@dataclass(frozen=True)
class Verdict:
    valid: bool
    longest_copy: int = 0            # notes in a row shared with one corpus piece (0: not compared)
    max_copy: int | None = None      # the copy guard's limit (None: off)

    @property
    def copy(self) -> bool:
        return self.max_copy is not None and self.longest_copy > self.max_copy

    def reason(self, need_valid: bool = True) -> str | None:
        """Why the piece is rejected, or None when it passes."""
        if need_valid and not self.valid:
            return FAILED_CHECK
        if self.copy:
            return f"more than {self.max_copy} notes in a row from the corpus"
        return None


def judge_report(report, index: NoveltyIndex | None, max_copy: int | None) -> Verdict:
    """The verdict on a `check.Report` whose melody was read with it (`report.melody`)."""
    longest = 0
    if index is not None and report.melody:
        longest = index.longest_match(report.melody).length
    return Verdict(report.valid, longest, max_copy if index is not None else None)
