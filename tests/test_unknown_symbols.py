"""The unknown symbol `<unk>`: rare symbols learned as it at training, symbols a model never saw scored
as it by `evaluate`, never sampled; models saved before it came keep their ids and count what they leave out."""

import json
from pathlib import Path

import numpy as np
import pytest

from tunesmith import TunesmithError, bundle, cli, corpus
from tunesmith.codecs import CharCodec, CodecOptions, EventCodec, codec_from_json
from tunesmith.codecs.base import SPECIALS, UNK
from tunesmith.corpus import Piece
from tunesmith.evaluate.likelihood import evaluate
from tunesmith.nets.lstm import LSTMModel, ModelConfig
from tunesmith.notation.scores import PartEvents
from tunesmith.sample import generate
from tunesmith.train import TrainConfig, train

MODELS = Path(__file__).resolve().parents[1] / "src" / "tunesmith" / "models"
TINY = dict(layers=1, hidden=48, embed=16, dropout=0.0, batch_size=4, seq_len=64, eval_every=60, preview_length=20,
            copy_index=False)
RARE = "αβγδεζηθικλμνξοπρστυφχψω"   # each written once in the corpus below: all are learned as <unk>


def tune(i: int, odd: str = "") -> str:
    bars = ["GABc dedB", "A2FA dAFA", "d2fd cAGF", "GEFD E2D2"]
    body = "|".join(bars[(i + j) % 4] for j in range(4))
    return f"X:1\nT:Tune\nM:4/4\nK:G\n{body}{odd}|]\n"


def write_corpus(folder: Path) -> list[Path]:
    """12 tunes; each of the first 8 holds three Greek letters found nowhere else."""
    folder.mkdir(parents=True)
    paths = []
    for i in range(12):
        path = folder / f"t{i:02d}.abc"
        path.write_text(tune(i, RARE[3 * i:3 * i + 3]), encoding="utf-8")
        paths.append(path)
    return paths


def test_fit_leaves_rare_symbols_out_as_unk_and_primers_still_refuse_them():
    pieces = [Piece("a", "abcabc~x", "abc"), Piece("b", "abcabc~y", "abc")]
    codec = CharCodec.fit(pieces, CodecOptions())          # unk_min_count 2: x and y are rare
    assert codec.chars == ["a", "b", "c", "~"] and codec.unk_id == 2
    assert codec.symbols[:3] == [*SPECIALS, UNK] and codec.never_ids == [codec.BOS, codec.unk_id]
    ids = codec.encode(Piece("new", "abz", "abc"))        # z: never seen at all
    assert ids.tolist() == [codec.BOS, codec.index["a"], codec.index["b"], codec.unk_id, codec.EOS]
    assert codec.decode(ids) == "ab"                      # decoding drops <unk>
    with pytest.raises(TunesmithError, match=r"'x'.*LATIN SMALL LETTER X.*character 3"):
        codec.encode_primer("abx")
    again = codec_from_json(json.loads(json.dumps(codec.to_json())))
    assert again.symbols == codec.symbols and again.unk_id == codec.unk_id
    # with styles, <unk> comes before the style tokens, which stay start-only
    styled = CharCodec.fit(pieces, CodecOptions(), styles=["jig", "reel"])
    assert styled.symbols[2:5] == [UNK, "<style:jig>", "<style:reel>"]
    assert styled.start_only_ids == [3, 4] and styled.style_id("reel") == 4
    assert styled.style_of(styled.encode(Piece("r", "ab", "abc", {"style": "reel"}))[1:].tolist()) == "reel"
    # nothing rare (or no options): no <unk>, the vocabulary a model saved before it came would have
    for plain in (CharCodec.fit(pieces, CodecOptions(unk_min_count=1)), CharCodec.fit(pieces)):
        assert plain.unk_id is None and plain.chars == ["a", "b", "c", "x", "y", "~"]
        assert "unk" not in plain.to_json() and plain.never_ids == [plain.BOS]
        with pytest.raises(TunesmithError, match="never saw"):
            plain.encode(Piece("new", "abz", "abc"))


def test_event_codec_learns_rare_events_as_unk():
    def piece(name, pitches):
        part = PartEvents(name, "4/4", 0, "major", 0.0, [((p,), float(i), 1.0) for i, p in enumerate(pitches)])
        return Piece(name, part.text(), "events", {"events": part.to_json()})

    pieces = [piece("a", [60, 62, 64, 60]), piece("b", [60, 62, 64, 71])]   # the last events: once each
    codec = EventCodec.fit(pieces, CodecOptions())
    assert codec.unk_id == 2 and not any(w.startswith(("71_", "60_1/4")) for w in codec.words)
    ids = codec.encode(piece("c", [60, 62, 64, 77]))
    assert int(np.count_nonzero(ids == codec.unk_id)) == 1 and "77" not in codec.decode(ids)
    with pytest.raises(TunesmithError, match="never saw"):
        codec.encode_primer("M:4/4 K:C O:0 77_1_1")
    assert codec_from_json(codec.to_json()).symbols == codec.symbols


@pytest.mark.parametrize("name", ["folk", "essen", "chorale-melody"])
def test_shipped_codecs_keep_their_ids_and_their_files(name):
    saved = json.loads((MODELS / name / "codec.json").read_text(encoding="utf-8"))
    codec = codec_from_json(saved)
    # a model saved before `<unk>` came has none; one saved since has it right after the framing
    framing = SPECIALS + ([UNK] if saved.get("unk") else [])
    assert codec.never_ids == [codec.BOS] + ([codec.unk_id] if saved.get("unk") else [])
    assert (codec.unk_id is None) == (not saved.get("unk"))
    words = saved.get("chars", saved.get("words"))
    assert codec.symbols == framing + [f"<style:{s}>" for s in saved["styles"]] + words
    assert codec.to_json() == saved


def test_a_new_model_scores_every_piece_and_reports_the_unknown_share(tmp_path, capsys):
    write_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(tmp_path / "corpus")], out=str(run), steps=60, valid_fraction=0.25, **TINY))
    saved = json.loads((run / "best" / "codec.json").read_text(encoding="utf-8"))
    assert saved["unk"] is True and not set(RARE) & set(saved["chars"])
    # new pieces: one as the corpus, one with a character no piece had, one with two rare ones
    new = tmp_path / "new"
    new.mkdir()
    texts = [tune(1), tune(2, "Ω"), tune(3, "αβ")]
    for i, text in enumerate(texts):
        (new / f"n{i}.abc").write_text(text, encoding="utf-8")
    result = evaluate(str(run), [str(new)], show_progress=False)
    assert result.pieces == 3 and result.pieces_left_out == 0
    assert result.unknown == 3
    assert result.tokens == result.characters + 3                # each character, and each piece's end
    assert result.unknown_share == pytest.approx(3 / result.tokens)
    assert np.isfinite(result.bits_per_token) and result.bits_per_character > 0
    assert cli.main(["-q", "evaluate", str(run), "--data", str(new)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("3 pieces, ") and " bits per token, " in line
    assert line.endswith(f"3 of {result.tokens} tokens ({3 / result.tokens:.1%}) were symbols the model never saw")
    assert cli.main(["-q", "evaluate", str(run), "--data", str(new), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unknown"] == 3 and data["unknown_share"] == pytest.approx(result.unknown_share)
    assert data["pieces_left_out"] == 0


def test_a_model_without_unk_counts_the_pieces_it_leaves_out(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for i, text in enumerate([tune(0), tune(1), tune(2, "Ω"), tune(3)]):
        (data / f"d{i}.abc").write_text(text, encoding="utf-8")
    pieces = corpus.load([str(data / "d0.abc"), str(data / "d1.abc")], show_progress=False).pieces
    codec = CharCodec.fit(pieces)                                # no options: no <unk>, as old models
    model = LSTMModel(ModelConfig(codec.vocab_size, layers=1, hidden=16, embed=8, dropout=0.0))
    path = bundle.save(tmp_path / "old", model, codec, {"corpus": "test"})
    assert "unk" not in json.loads((path / "codec.json").read_text())
    result = evaluate(str(path), [str(data)], show_progress=False)
    assert (result.pieces, result.pieces_left_out, result.unknown) == (3, 1, None)
    assert result.left_out_share == pytest.approx(0.25) and result.unknown_share is None
    assert cli.main(["-q", "evaluate", str(path), "--data", str(data)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("3 pieces, ")
    assert "1 of 4 pieces (25.0%) were left out: they hold symbols the model never saw" in line
    assert cli.main(["-q", "evaluate", str(path), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pieces_left_out"] == 1


def test_sampling_never_writes_unk(tmp_path, monkeypatch):
    """The model writes <unk> often (a Greek letter in a third of the tunes); the sampler never picks it."""
    write_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(tmp_path / "corpus")], out=str(run), steps=60, valid_fraction=0.0,
                      lr=0.01, **TINY))
    loaded = bundle.load(run)
    codec = loaded.codec
    unk = codec.unk_id
    assert unk is not None

    def draw(constrain=True):
        return generate(loaded.model, codec, n=64, seed=5, max_length=120, temperature=1.5, constrain=constrain)

    # allowed to (and without the grammar, which knows no <unk> either), the model writes <unk> ...
    monkeypatch.setattr(type(codec), "never_ids", property(lambda self: [self.BOS]))
    assert any(unk in p.ids for p in draw(constrain=False))
    monkeypatch.undo()
    # ... and the sampler never picks it
    assert not any(unk in p.ids for p in draw())
