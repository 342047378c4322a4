"""The API's shapes and limits: request and response models, what it answers about a model
(`model_info`), and the answer for an error.

A compose request's sampling fields are `compose.SampleOptions` settings under
the API's names (`API_OPTIONS`): each takes its type, help and bounds from
there. The web's own narrower limits are stated here, once (`WEB_BOUNDS`),
and so are the limits of what a request may send (`PRIMER_BYTES`, `MAX_BODY`).
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import fields, replace

from pydantic import BaseModel, ConfigDict, Field, create_model

from tunesmith import TunesmithError, registry, settings
from tunesmith.codecs import CODECS, codec_from_json
from tunesmith.compose import SampleOptions, card_defaults

_OPTIONS = {f.name: f for f in fields(SampleOptions)}
_HINTS = typing.get_type_hints(SampleOptions)

# the sampling settings a compose request takes: API name -> SampleOptions' name
API_OPTIONS = {"style": "style", "temperature": "temperature", "length": "max_length", "seed": "seed",
               "count": "n", "primer": "primer", "checked": "valid_only", "meter": "meter", "key": "key",
               "mode": "mode", "rhythm": "rhythm", "voice_leading": "voice_leading",
               "bars": "bars"}
CONTROLS = ("meter", "key", "mode", "rhythm")     # a model's controls (see model_info's "controls")
# those left unset (None) take the model card's value: what their description adds to the setting's help
CARD_DEFAULTS = {"temperature": " (default: the model card's)", "length": " (default: the card's)",
                 "checked": ", and those that copy the corpus (default: the card's setting, on)"}

# bounds of what a request may ask, narrower than the library's
TEMPERATURE = (0.0, 2.0)
LENGTH = (16, 4000)          # tokens (characters for text models), primer included
MAX_COUNT = 4
PRIMER_CHARS = 2000
STYLE_CHARS = 100
CONTROL_CHARS = 40
WEB_BOUNDS = {
    **{name: {"max_length": CONTROL_CHARS} for name in CONTROLS},
    "temperature": {"ge": TEMPERATURE[0], "le": TEMPERATURE[1]},
    "length": {"ge": LENGTH[0], "le": LENGTH[1]},
    "count": {"le": MAX_COUNT},
    "primer": {"max_length": PRIMER_CHARS},
    "style": {"max_length": STYLE_CHARS},
}
SEED_MAX = settings.spec_of(_OPTIONS["seed"]).high     # the library's bound: 2**31 - 1
PRIMER_BYTES = 256 * 1024    # an uploaded MIDI or MusicXML primer
MAX_BODY = 512 * 1024        # any request body (a base64 primer file fits)

# what a piece's files may be asked as: name -> (media type, file name suffix; None: the codec's)
FORMATS = {
    "source": (None, None),
    "midi": ("audio/midi", ".mid"),
    "musicxml": ("application/vnd.recordare.musicxml+xml", ".musicxml"),
    "svg": ("image/svg+xml", ".svg"),
    "wav": ("audio/wav", ".wav"),
}
# the source file's media type by its format (codec.source_format)
SOURCE_TYPES = {"abc": "text/vnd.abc; charset=utf-8", "kern": "text/x-kern; charset=utf-8",
                "musicxml": "application/vnd.recordare.musicxml+xml"}
TEXT_TYPE = "text/plain; charset=utf-8"
UNKNOWN = "?"                # a model's codec kind or format that cannot be told


class ApiError(Exception):
    """An answer other than 200, with a one-sentence reason."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


# library messages name command-line flags; the API's fields are named differently
_FLAGS = tuple((flag, api) for api, name in API_OPTIONS.items()
               if (flag := settings.flag_of(_OPTIONS[name])) and flag.startswith("--"))


def api_words(message: str) -> str:
    """A library message with the API's field names for the flags it names."""
    for flag, name in _FLAGS:
        message = message.replace(flag, name)
    return message


def _option(api_name: str) -> tuple[object, object]:
    """(type, Field) of a sampling setting the API takes: SampleOptions' type, help, default and bounds,
    narrowed by WEB_BOUNDS; None (the card's value) where CARD_DEFAULTS says so."""
    f = _OPTIONS[API_OPTIONS[api_name]]
    kind, optional, _ = settings.base_type(_HINTS[f.name])
    keywords = settings.api_bounds(SampleOptions, f.name) | WEB_BOUNDS.get(api_name, {})
    default = settings.default_of(f)
    if api_name in CARD_DEFAULTS:
        default = None
        keywords["description"] += CARD_DEFAULTS[api_name]
    annotation = typing.Optional[kind] if optional or default is None else kind
    return annotation, Field(default, **keywords)


# ---- what the API answers about a model -------------------------------------------------------

def web_length(max_length: int) -> int:
    """A length within the API's bounds (a card's default may be longer than the web allows)."""
    return max(LENGTH[0], min(max_length, LENGTH[1]))


def _codec_json(entry: registry.Entry) -> dict | None:
    """A registry entry's codec.json, or None where it cannot be read."""
    try:
        saved = json.loads((entry.path / "codec.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def _codec_format(saved: dict | None) -> str:
    """The format a saved codec's pieces are in (abc, kern, events, ...)."""
    try:
        return codec_from_json(saved).format
    except (TunesmithError, LookupError, TypeError, ValueError, AttributeError):
        return UNKNOWN


def model_controls(entry: registry.Entry) -> dict[str, dict[str, int]]:
    """What the model's --meter/--key/--mode/--rhythm take, with the corpus pieces that had each value:
    its card's "controls" (written by `export`), else its codec's; {} where it knows none."""
    card = entry.card or {}
    known = card.get("controls")
    if isinstance(known, dict) and all(isinstance(v, dict) for v in known.values()):
        return {str(k): {str(v): n for v, n in values.items() if isinstance(n, int)} for k, values in known.items()}
    saved = _codec_json(entry)
    try:
        return codec_from_json(saved).controls() if saved is not None else {}
    except (TunesmithError, LookupError, TypeError, ValueError, AttributeError):
        return {}


def _codec_facts(entry: registry.Entry) -> tuple[str, list[str], str]:
    """(codec kind, styles, format) of a registry entry: from its card, else its codec.json."""
    card = entry.card or {}
    kind, styles = card.get("codec"), card.get("styles")
    saved = None
    if kind not in CODECS or not isinstance(styles, list):
        saved = _codec_json(entry)
        if saved is not None:
            kind, styles = saved.get("kind"), saved.get("styles") or []
        else:
            kind, styles = kind or UNKNOWN, styles or []
    fmt = card["format"] if "format" in card else _codec_format(saved or _codec_json(entry))
    return str(kind), [str(s) for s in styles], fmt


def _not_a_number(value, where: str = "") -> str | None:
    """Where a card holds NaN or an infinity (Python's json reads both; JSON has neither), else None:
    "val_bits is NaN"."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'the card'} is {json.dumps(value)}"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        found = _not_a_number(inner, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def _finite(value):
    """`value` with every NaN and infinity as None, so that it can be sent as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def model_info(entry: registry.Entry) -> dict:
    """What the page shows of a model: its name, card and the compose defaults it measured. A card
    that cannot be shown as it is (NaN, a field of the wrong kind) gives what can be, and its problem."""
    problem = entry.problem
    bad = _not_a_number(entry.card)
    if bad:
        problem = f"card.json: {bad}, not a number"
    try:
        info = _model_info(entry)
    except Exception as exc:  # noqa: BLE001 - one damaged card must not take the list down
        problem = problem or f"card.json cannot be read as a model card ({type(exc).__name__}: {exc})"[:300]
        info = _model_info(replace(entry, card={}))
    info["problem"] = problem
    return _finite(info)


def _model_info(entry: registry.Entry) -> dict:
    card = entry.card or {}
    kind, styles, fmt = _codec_facts(entry)
    codec_class = CODECS.get(kind)
    try:
        defaults = card_defaults(card)
    except TunesmithError:
        defaults = SampleOptions(valid_only=True)
    corpus = card.get("corpus")
    if isinstance(corpus, str) and "/" in corpus:     # a path on the machine it was trained on
        corpus = corpus.rstrip("/").rsplit("/", 1)[-1]
    judged = card.get("judged") if isinstance(card.get("judged"), dict) else {}
    composed = judged.get("composed") if isinstance(judged.get("composed"), dict) else {}
    return {
        "name": entry.name,
        "format": fmt,
        "corpus": corpus,
        "pieces": card.get("pieces"),
        "description": card.get("description"),
        "kind": kind,
        "styles": styles,
        "source": entry.source,
        "problem": entry.problem,
        "label": codec_class.label(fmt) if codec_class is not None else f"{fmt}",
        "primer": "file" if codec_class is not None and codec_class.primer_kind == "score" else "text",
        "defaults": {"temperature": defaults.temperature, "length": web_length(defaults.max_length),
                     "checked": defaults.valid_only, "primer": defaults.primer},
        "val_bits": card.get("val_bits"),
        "judged": {k: composed.get(k) for k in ("pieces", "valid", "copies") if k in composed} or None,
        "compose_seconds": judged.get("compose_seconds_median"),
        "controls": model_controls(entry),
        # it writes voices on a grid, so it can harmonize a melody (/api/harmonize)
        "voices": kind == "grid" and (_codec_json(entry) or {}).get("layout") == "voices",
    }


# ---- the API's shapes (no docstrings: they would show in openapi.json) --------------------------

class PrimerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=255, description="the file's name (only shown back)")
    data: str = Field(..., description=f"the file's bytes in base64: MIDI or MusicXML, at most "
                                       f"{PRIMER_BYTES // 1024} KB")


ComposeRequest = create_model(
    "ComposeRequest",
    __config__=ConfigDict(extra="forbid"),
    model=(str, Field(..., min_length=1, max_length=100, description="a model's name from /api/models")),
    **{name: _option(name) for name in ("style", "temperature", "length", "seed", "count", "primer")},
    primer_file=(typing.Optional[PrimerFile],
                 Field(None, description="note-event models: a score whose first notes start every piece; "
                                         "text models: an ABC or **kern file whose tune each piece continues")),
    checked=_option("checked"),
    **{name: _option(name) for name in CONTROLS},
    voice_leading=_option("voice_leading"),
    bars=_option("bars"),
    continuation=(bool, Field(False, description="text models: the primer is a tune of yours (ABC or **kern) "
                                                 "that each piece continues from where it stops: the piece is "
                                                 "your text, unchanged, followed by what the model writes")),
    adapt=(bool, Field(False, description="with continuation: the model first reads your tune a few times over and "
                                          "learns from it (a copy of the model, for this request), so it goes on "
                                          "in the tune's own way")),
)


class HarmonizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field("chorale", min_length=1, max_length=100,
                       description="a model of voices on a time grid (trained with --layout voices), e.g. chorale")
    piece_id: typing.Optional[str] = Field(None, max_length=64, description="a piece composed here whose melody "
                                                                            "(its top part) is harmonized")
    melody_file: typing.Optional[PrimerFile] = Field(None, description="or a melody file: MIDI, MusicXML, ABC or "
                                                                       "**kern")
    part: typing.Optional[int] = Field(None, ge=1, le=64, description="the part holding the melody (1 = the top; "
                                                                      "default: the one named Soprano or Melody)")
    temperature: typing.Optional[float] = _option("temperature")[1]
    voice_leading: typing.Optional[str] = _option("voice_leading")[1]
    seed: typing.Optional[int] = _option("seed")[1]
    count: int = _option("count")[1]


class PieceOut(BaseModel):
    id: str
    model: str
    number: int
    seed: int
    style: str | None
    passed: bool | None = Field(description="passed the check and copy guard (None: not checked)")
    ended: bool = Field(description="the model ended it (False: cut at the length)")
    source_format: str
    files: dict[str, str] = Field(description="format -> URL, for the formats it has")
    pages: int = Field(description="pages of sheet music (svg?page=1..pages)")
    audio: str | None = Field(description="wav (rendered), or midi (synthesize it in the browser), or None")
    errors: dict[str, str] = Field(description="format -> why it could not be made")
    text: str | None = Field(description="the source text of text models (its start)")


class ComposeResponse(BaseModel):
    model: str
    seed: int
    seconds: float
    sampled: int
    failed: int
    pieces: list[PieceOut]
