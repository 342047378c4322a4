"""Models by name: `models` (list them and their cards), `export` (make one), `serve` (the web app)."""

from __future__ import annotations

import argparse
import json

from tunesmith import TunesmithError, log, registry
from tunesmith.codecs import codec_from_json


def add_models_parser(sub) -> None:
    p = sub.add_parser("models", help="list the models tunesmith finds by name, with their cards",
                       description="Models are found by name in: --models DIR, $TUNESMITH_MODELS, "
                                   "~/.local/share/tunesmith/models, and the models shipped in the package "
                                   "(first match wins). 'tunesmith sample NAME' uses them.")
    p.add_argument("name", nargs="?", help="show this model's whole card")
    p.add_argument("--models", action="append", metavar="DIR", help="another folder of models (may repeat)")
    p.add_argument("--json", action="store_true", help="one JSON list on stdout (with NAME: its entry)")
    p.add_argument("--all", action="store_true", dest="all_values",
                   help=f"with NAME: list every value of each control (default the {TOP_VALUES} commonest)")
    p.set_defaults(func=cmd_models)


TOP_VALUES = 12     # values of a control `models NAME` lists, the commonest first, unless --all


def model_controls(entry: registry.Entry) -> dict[str, dict[str, int]]:
    """What --meter/--key/--mode/--rhythm take with this model, and how many corpus pieces had each
    value: its card's "controls" (written by `export`), else its codec's. {} where it knows none."""
    known = entry.card.get("controls") if isinstance(entry.card, dict) else None
    if isinstance(known, dict) and all(isinstance(v, dict) for v in known.values()):
        return known
    try:
        return codec_from_json(registry.read_json(entry.path / "codec.json")).controls()
    except (TunesmithError, OSError, ValueError, TypeError, LookupError, AttributeError):
        return {}


def controls_text(known: dict[str, dict[str, int]], every: bool = False) -> str:
    """The controls for people: one line per control, its values with their counts (the commonest
    TOP_VALUES unless `every`)."""
    if not known:
        return "  controls: none (sampling takes no --meter, --key, --mode or --rhythm)"
    lines = ["  controls (value, pieces of the corpus):"]
    for name, values in known.items():
        ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ranked if every else ranked[:TOP_VALUES]
        more = f", ... {len(ranked) - len(shown)} more (--all lists them)" if len(shown) < len(ranked) else ""
        lines.append(f"    --{name}: " + ", ".join(f"{v} ({n})" for v, n in shown) + more)
    return "\n".join(lines)


def _entry_json(e: registry.Entry, controls: bool = False) -> dict:
    entry = {"name": e.name, "path": str(e.path), "source": e.source, "card": e.card, "problem": e.problem}
    if controls:
        entry["controls"] = model_controls(e)
    return entry


def cmd_models(args: argparse.Namespace) -> int:
    entries = registry.models(args.models)
    if args.name:
        entry = next((e for e in entries if e.name == args.name), None)
        if entry is None:
            registry.find(args.name, args.models)   # the error that lists the known names
        if args.json:
            print(json.dumps(_entry_json(entry, controls=True), ensure_ascii=False))
        else:
            print(f"{entry.name} ({entry.source}): {entry.path}")
            print(entry.problem or card_text(entry.card))
            if not entry.problem:
                print(controls_text(model_controls(entry), args.all_values))
        return 0
    if args.json:
        print(json.dumps([_entry_json(e) for e in entries], ensure_ascii=False))
        return 0
    if not entries:
        print("no models found; searched: " + ", ".join(str(f) for f, _ in registry.search_path(args.models)))
        return 0
    print(f"{'name':<16} {'format':<8} {'corpus':<24} {'pieces':>6} {'bits/token':>10}  {'source':<9} path")
    for e in entries:
        c = e.card
        bits = f"{c['val_bits']:.3f}" if isinstance(c.get("val_bits"), (int, float)) else "-"
        line = (f"{e.name:<16} {str(c.get('format', '?')):<8} {str(c.get('corpus', '?'))[:24]:<24} "
                f"{str(c.get('pieces', '?')):>6} {bits:>10}  {e.source:<9} {e.path}")
        print(line + (f"  ({e.problem})" if e.problem else ""))
        for other in e.shadows:
            print(f"{'':<16} (hides {other})")
    return 0


def _figures(f: dict) -> str:
    return (f"{f.get('valid')} of {f.get('pieces')} valid, {f.get('copies')} flagged as copies "
            f"(>{f.get('max_copy')} notes), {f.get('collapsed')} collapsed, "
            f"longest shared run median {f.get('median_longest_copy')}")


def card_text(card: dict) -> str:
    """A model card for people: one line per field, the judged figures as short sentences."""
    lines = [f"  {key}: {value}" for key, value in card.items() if key not in ("judged", "compose", "controls")]
    compose_settings = card.get("compose")
    if isinstance(compose_settings, dict):
        lines.append("  compose settings: " + ", ".join(f"{k} {v!r}" for k, v in compose_settings.items()))
    judged = card.get("judged")
    if isinstance(judged, dict):
        for t, f in (judged.get("raw") or {}).items():
            if isinstance(f, dict):
                lines.append(f"  raw samples at temperature {t}: {_figures(f)}")
        if isinstance(judged.get("composed"), dict):
            lines.append(f"  composed with the settings above: {_figures(judged['composed'])}")
        if judged.get("compose_seconds_median") is not None:
            lines.append(f"  'tunesmith compose' took {judged['compose_seconds_median']} s (median)")
    return "\n".join(lines)


def add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="copy a run's chosen checkpoint into a model folder to share or ship",
                       description="Copy the checkpoint a run recommends (select.json, else best) into a new "
                                   "model folder, with its card and corpus index; --half stores the weights "
                                   "in fp16, half the size.")
    p.add_argument("run", help="a training run folder or a model folder")
    p.add_argument("--out", required=True, help="the model folder to create (its name is the model's name)")
    p.add_argument("--half", action="store_true", help="store the weights in fp16 (sampling still computes in fp32)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith import bundle
    from tunesmith.train.config import recipe_of

    path = bundle.export(args.run, args.out, half=args.half, recipe=recipe_of(bundle.resolve(args.run)))
    size = sum(f.stat().st_size for f in path.iterdir())
    print(path)
    log.info(f"exported {len(list(path.iterdir()))} files, {size / 1e6:.1f} MB; put the folder on the models search "
             f"path ('tunesmith models' shows it) to use it by name")
    return 0


def add_serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="the composer web app: pick a style, press Compose, see and hear the piece",
                       description="Serve the composer page and its JSON API (/api, docs at /api/docs) with the "
                                   "models 'tunesmith models' lists. Listens on this machine only unless --host "
                                   "says otherwise; the app has no login.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--models", action="append", metavar="DIR", help="another folder of models (may repeat)")
    p.add_argument("--allow-host", action="append", metavar="NAME", dest="allow_host",
                   help="a name or address the server may be reached by (its requests' Host), besides localhost, "
                        "127.0.0.1, ::1 and --host; others are refused (may repeat)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise TunesmithError(f"--port must be between 1 and 65535, not {args.port}")
    try:   # imported here: FastAPI and uvicorn are optional
        from tunesmith.web.app import serve
    except ImportError as exc:
        raise TunesmithError(f"the web app needs FastAPI and uvicorn ({exc}); pip install fastapi uvicorn") from None
    for name in args.allow_host or []:
        if not name.strip() or any(c in name for c in "/ @?#"):
            raise TunesmithError(f"--allow-host takes a host name or address, not {name!r}")
    serve(args.host, args.port, args.models, args.allow_host)
    return 0
