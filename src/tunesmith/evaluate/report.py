"""A report a person reads: JSON for programs, Markdown and a self-contained HTML page for people, PNG plots.

`write_report` takes the dictionary of `stats.compare` and, optionally,
``extra``: ``extra["summary"]`` (a dict) and ``extra["pieces"]`` (a list of
dicts, one row per piece, any keys) are shown as tables; all of ``extra`` goes
into ``report.json``. The HTML page needs nothing but the PNGs beside it: no
scripts, no style sheets from elsewhere.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tunesmith import atomic

GENERATED_COLOUR = "#d95f02"
CORPUS_COLOUR = "#1b9e77"

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


# ---------------------------------------------------------------- cells

def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.3f}".rstrip("0").rstrip(".")


def _cell(value: object) -> str:
    """Any value of a per-piece row as short text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _top_bins(bins: list, shares: list[float], count: int = 3) -> str:
    """The largest bins of a histogram, e.g. 'G 21%, D 15%, A 12%'."""
    ranked = sorted(zip(bins, shares), key=lambda pair: -pair[1])[:count]
    return ", ".join(f"{name} {share:.0%}" for name, share in ranked if share > 0) or "—"


def _distance(entry: dict) -> str:
    if entry.get("overlap") is None:
        return "—"
    return f"overlap {_number(entry['overlap'])}, KL {_number(entry['kl'])} bits"


def _spread(side: dict) -> str:
    if side.get("mean") is None:
        return "—"
    return f"{_number(side['mean'])} ± {_number(side['std'])}"


def summary_rows(comparison: dict) -> list[list[str]]:
    """The rows [metric, generated, corpus, distance] of the summary table."""
    rows = [["pieces (empty)",
             f"{comparison['generated']['pieces']} ({comparison['generated']['empty']})",
             f"{comparison['corpus']['pieces']} ({comparison['corpus']['empty']})", ""]]
    for entry in comparison.get("histograms", {}).values():
        rows.append([entry["label"], _top_bins(entry["bins"], entry["generated"]),
                     _top_bins(entry["bins"], entry["corpus"]), _distance(entry)])
    for entry in comparison.get("scalars", {}).values():
        rows.append([entry["label"], _spread(entry["generated"]), _spread(entry["corpus"]), _distance(entry)])
    collapse = comparison.get("collapse", {})
    ours, theirs = collapse.get("generated", {}), collapse.get("corpus", {})
    for key in ours:
        rows.append([key.replace("_", " "), _cell(ours[key]), _cell(theirs.get(key)), ""])
    return rows


def _piece_columns(pieces: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in pieces:
        columns += [key for key in row if key not in columns]
    return columns


# ---------------------------------------------------------------- plots

def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def histogram_plot(entry: dict) -> bytes:
    """Generated and corpus histograms as bars side by side, as PNG bytes."""
    bins = entry["bins"]
    figure = Figure(figsize=(max(6.0, 0.4 * len(bins) + 2), 3.6), layout="constrained")
    axes = figure.add_subplot()
    positions = range(len(bins))
    axes.bar([x - 0.2 for x in positions], entry["generated"], width=0.4, label="generated", color=GENERATED_COLOUR)
    axes.bar([x + 0.2 for x in positions], entry["corpus"], width=0.4, label="corpus", color=CORPUS_COLOUR)
    axes.set_xticks(list(positions), [str(name) for name in bins], fontsize=8)
    axes.set_ylabel("share")
    axes.set_title(f"{entry['label']} — {_distance(entry)}", fontsize=10)
    axes.legend()
    return _png(figure)


def scalars_plot(scalars: dict) -> bytes:
    """One box plot per figure, generated beside corpus, as PNG bytes."""
    figure = Figure(figsize=(3 * max(1, len(scalars)), 3.6), layout="constrained")
    for index, entry in enumerate(scalars.values(), start=1):
        axes = figure.add_subplot(1, max(1, len(scalars)), index)
        sides = [(name, entry[name].get("values") or []) for name in ("generated", "corpus")]
        sides = [(name, values) for name, values in sides if values]
        if sides:
            boxes = axes.boxplot([values for _, values in sides], patch_artist=True, widths=0.6,
                                   medianprops={"color": "black"})
            for patch, (name, _) in zip(boxes["boxes"], sides):
                patch.set_facecolor(GENERATED_COLOUR if name == "generated" else CORPUS_COLOUR)
            axes.set_xticks(range(1, len(sides) + 1), [name for name, _ in sides])
        axes.set_title(entry["label"], fontsize=9)
    return _png(figure)


def _plot_name(metric: str) -> str:
    return metric.replace("_", "-") + ".png"


# ---------------------------------------------------------------- documents

def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"
    return "\n".join([line(header), line(["---"] * len(header))] + [line(row) for row in rows])


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def _sections(comparison: dict, extra: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading, header, rows) of every table in the report."""
    sections = [("Likeness to the corpus", ["metric", "generated", "corpus", "distance"], summary_rows(comparison))]
    summary = extra.get("summary")
    if isinstance(summary, dict) and summary:
        sections.append(("Summary", ["figure", "value"], [[str(key), _cell(value)] for key, value in summary.items()]))
    pieces = extra.get("pieces")
    if isinstance(pieces, list) and pieces:
        columns = _piece_columns(pieces)
        sections.append(("Pieces", columns, [[_cell(row.get(key)) for key in columns] for row in pieces]))
    return sections


def write_report(out_dir: str | Path, comparison: dict, extra: dict | None = None,
                 title: str = "tunesmith evaluation") -> dict[str, Path]:
    """Write report.json, report.md, report.html and one PNG per plot into `out_dir`; return {file name: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = extra or {}
    written: dict[str, Path] = {}

    def write(name: str, data: bytes | str) -> None:
        path = out_dir / name
        (atomic.write_text if isinstance(data, str) else atomic.write_bytes)(path, data)
        written[name] = path

    plots: list[tuple[str, str]] = []     # (file name, caption)
    for metric, entry in comparison.get("histograms", {}).items():
        write(_plot_name(metric), histogram_plot(entry))
        plots.append((_plot_name(metric), entry["label"]))
    if comparison.get("scalars"):
        write("scalars.png", scalars_plot(comparison["scalars"]))
        plots.append(("scalars.png", "Figures per piece"))

    report = {"title": title, "comparison": comparison, "extra": extra}
    write("report.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")

    sections = _sections(comparison, extra)
    markdown = [f"# {title}", ""]
    for heading, header, rows in sections:
        markdown += [f"## {heading}", "", _markdown_table(header, rows), ""]
    markdown += ["## Plots", ""]
    for name, caption in plots:
        markdown += [f"![{caption}]({name})", ""]
    write("report.md", "\n".join(markdown))

    page = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
            f"<h1>{html.escape(title)}</h1>"]
    for heading, header, rows in sections:
        page += [f"<h2>{html.escape(heading)}</h2>", _html_table(header, rows)]
    page.append("<h2>Plots</h2>")
    page += [f'<img src="{html.escape(name)}" alt="{html.escape(caption)}">' for name, caption in plots]
    page += ["</body>", "</html>", ""]
    write("report.html", "\n".join(page))
    return written
