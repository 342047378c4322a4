from pathlib import Path

import pytest

from tunesmith import log

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def quiet():
    log.set_quiet(True)
    yield
    log.set_quiet(False)


def shared(name: str) -> Path:
    """A corpus from ../shared/data, or a clean skip when it is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared corpora live beside the checkout)")
    return path


TUNES = """%abc-2.1
% a book with a file header
M:4/4

X: 1
T:First Tune
% a comment inside
S:someone
M:6/8
K:G
"G"GAB c2d|e3 d3:|

X: 2
T:No Length Field
M:2/4
K:D
A2 B2|c4|]

free text after a blank line is not music

X: 3
T:Missing Key
abc|

X: 4
T:First Tune
% same tune again, as books do
S:someone
M:6/8
K:G
"G"GAB c2d|e3 d3:|
"""
