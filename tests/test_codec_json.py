"""A damaged codec.json is one sentence saying what is wrong, never a traceback; and a UTF-16 text file
is text, not binary data."""

import json

import pytest

from tunesmith import TunesmithError, bundle
from tunesmith.codecs import CharCodec, CodecOptions, EventCodec, codec_from_json
from tunesmith.codecs.chars import read_file
from tunesmith.corpus import Piece
from tunesmith.nets.lstm import LSTMModel, ModelConfig

CHARS = CharCodec.fit([Piece("a", "X:1\nK:G\nGABc|\n", "kern")]).to_json()
CHARS["kern_headers"] = {"2": {"spines": ["**kern", "**kern"], "staff": [], "clef": []}}
EVENTS = EventCodec(["M:4/4", "K:C", "O:0", "60_1_1"]).to_json()


def one_sentence(message: str) -> bool:
    return "\n" not in message and "Traceback" not in message and message[:1].islower()


DAMAGED = [
    (CHARS, {"kind": ["chars"]}, r"'kind' of the wrong type: it should be a string, not a list \(\['chars'\]\)"),
    (CHARS, {"kind": None}, r"'kind' of the wrong type: it should be a string, not null"),
    (CHARS, {"kind": "words"}, r"unknown codec kind 'words' \(known: chars, events"),
    (CHARS, {"chars": 5}, r"'chars' of the wrong type: it should be a list of distinct single characters, "
                          r"not a number \(5\)"),
    (CHARS, {"chars": ["ab", "c"]}, r"'chars' of the wrong type: .*single characters, not a list"),
    (CHARS, {"chars": ["a", "a"]}, r"'chars' of the wrong type: .*distinct"),
    (CHARS, {"chars": None}, r"'chars' of the wrong type: .*not null"),
    (CHARS, {"styles": "x"}, r"'styles' of the wrong type: it should be a list of distinct strings, not a string"),
    (CHARS, {"kern_headers": []}, r"'kern_headers' of the wrong type: it should be an object or null, not a list"),
    (CHARS, {"kern_headers": {"two": {"spines": ["**kern"]}}}, r"'kern_headers' of the wrong type"),
    (CHARS, {"kern_headers": {"2": {"spines": "**kern"}}}, r"'kern_headers' of the wrong type"),
    (CHARS, {"format": 3}, r"'format' of the wrong type: it should be a string, not a number"),
    (CHARS, {"format": "midi"}, r"reads ABC or \*\*kern, not 'midi'"),
    (CHARS, {"unk": "yes"}, r"'unk' of the wrong type: it should be true or false, not a string"),
    (CHARS, {"chars": ...}, r"missing its 'chars' entry"),
    (EVENTS, {"words": None}, r"'words' of the wrong type: it should be a list of distinct strings, not null"),
    (EVENTS, {"words": ["60_1_1", 61]}, r"'words' of the wrong type"),
    (EVENTS, {"words": ...}, r"missing its 'words' entry"),
    (EVENTS, {"fallback_duration": "1"}, r"'fallback_duration' of the wrong type: it should be a number, not a "
                                         r"string \('1'\)"),
    (EVENTS, {"fallback_duration": -1}, r"'fallback_duration' of the wrong type: it should be a positive number"),
    (EVENTS, {"fallback_duration": True}, r"'fallback_duration' of the wrong type"),
    (EVENTS, {"chords": ["keep"]}, r"'chords' of the wrong type: it should be a string, not a list"),
    (EVENTS, {"parts": 2}, r"'parts' of the wrong type"),
    (EVENTS, {"parts": "some"}, r"bad 'parts' entry: --parts must be melody, all or a part number"),
    (EVENTS, {"transpose": 7}, r"'transpose' of the wrong type: it should be a string or null"),
    (EVENTS, {"transpose": "H#"}, r"bad 'transpose' entry"),
    (EVENTS, {"styles": [1, 2]}, r"'styles' of the wrong type"),
]


@pytest.mark.parametrize("base, change, message", DAMAGED)
def test_a_damaged_codec_file_is_one_sentence(base, change, message):
    data = json.loads(json.dumps(base))
    for key, value in change.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    with pytest.raises(TunesmithError, match=message) as raised:
        codec_from_json(data)
    assert one_sentence(str(raised.value)), str(raised.value)


@pytest.mark.parametrize("data", [["chars"], "chars", None, 5])
def test_a_codec_file_that_is_not_an_object(data):
    with pytest.raises(TunesmithError, match="should hold a JSON object") as raised:
        codec_from_json(data)
    assert one_sentence(str(raised.value))


def test_the_undamaged_files_load():
    assert codec_from_json(CHARS).kern_headers[2].spines == ["**kern", "**kern"]
    assert codec_from_json(EVENTS).words == ["M:4/4", "K:C", "O:0", "60_1_1"]


def test_an_unexpected_error_inside_a_codec_is_one_sentence(monkeypatch):
    def broken(cls, data):
        raise IndexError("list index out of range\nand a second line")

    monkeypatch.setattr(EventCodec, "from_json", classmethod(broken))
    with pytest.raises(TunesmithError, match=r"the codec file of kind 'events' is damaged \(IndexError: list "
                                             r"index out of range\)") as raised:
        codec_from_json(EVENTS)
    assert one_sentence(str(raised.value))


def test_a_damaged_codec_file_in_a_bundle_is_one_sentence(tmp_path):
    codec = CharCodec.fit([Piece("a", "X:1\nK:G\nGABc|\n", "abc")], CodecOptions(unk_min_count=1))
    model = LSTMModel(ModelConfig(codec.vocab_size, layers=1, hidden=8, embed=4, dropout=0.0))
    path = bundle.save(tmp_path / "m", model, codec, {"corpus": "test"})
    saved = json.loads((path / "codec.json").read_text())
    saved["chars"] = 5
    (path / "codec.json").write_text(json.dumps(saved))
    with pytest.raises(TunesmithError, match="'chars' of the wrong type"):
        bundle.load(path)


def test_a_utf16_file_is_text_not_binary_data(tmp_path):
    text = "X:1\nT:Ünïcode\nM:4/4\nL:1/8\nK:G\nGABc dedB|]\n"
    for encoding in ("utf-16", "utf-16-be"):
        path = tmp_path / f"{encoding}.abc"
        data = text.encode(encoding)
        path.write_bytes(data if encoding == "utf-16" else b"\xfe\xff" + data)
        try:
            pieces, _ = read_file(path, "abc")
        except ValueError as exc:   # what the text holds is for notation.abc.decode to say, not "binary"
            assert "binary" not in str(exc)
        else:
            assert [p.text for p in pieces] == [text]
    (tmp_path / "nul.abc").write_bytes(b"X:1\x00\x00binary")
    with pytest.raises(ValueError, match="binary data"):
        read_file(tmp_path / "nul.abc", "abc")
