"""The comparison's documents: ``results.json``, ``report.md``, ``report.html``, a Rich table.

All of them show the same table, built once by :func:`table`: one row per metric, one column per
variant (mean ± std over seeds), and the real-vs-real floor in the last column. The HTML report
embeds its images as base64, so it is one file that any browser opens.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from gankit._io import write_json_atomic, write_text_atomic
from gankit.compare.figures import Panel, save_side_by_side
from gankit.plots import plot_loss_overlay


def _cell(key: str, summary_mean: float | None, summary_std: float | None, num_classes: int | None,
          shown_std: bool) -> str:
    from gankit.evaluate.score import format_value

    if summary_mean is None:
        return "-"
    if key == "modes_covered":
        text = f"{summary_mean:.1f}".rstrip("0").rstrip(".") + (f"/{num_classes}" if num_classes else "")
    else:
        text = format_value(key, summary_mean)
    if shown_std and summary_std is not None:
        text += " ± " + (f"{summary_std:.1f}" if key == "modes_covered" else format_value(key, summary_std))
    return text


def table(results: dict[str, Any]) -> tuple[list[str], list[list[str]], list[int | None]]:
    """Header, rows of text cells, and per row the column index of the best variant (or None)."""
    from gankit.evaluate.metrics import METRICS

    variants = results["variants"]
    classes = results.get("num_classes")
    header = ["metric", "better"] + [v["name"] for v in variants] + ["real vs real"]
    rows, best = [], []
    for key, info in METRICS.items():
        if not any(key in v["mean"] for v in variants):
            continue
        cells = [_cell(key, v["mean"].get(key), v["std"].get(key), classes, len(v["runs"]) > 1)
                 for v in variants]
        rows.append([info.label, info.better, *cells,
                     _cell(key, results["floor"].get(key), None, classes, False)])
        values = [v["mean"].get(key) for v in variants]
        best.append(_best_index(values, info.better) if info.ranks else None)
    for key, label, fmt in (("seconds_per_epoch", "seconds / epoch", "{:.2f}"),
                            ("images_per_s", "images / s", "{:,.0f}")):
        cells = []
        for v in variants:
            summary = v.get(key)
            text = "-" if summary is None else fmt.format(summary["mean"])
            if summary is not None and len(v["runs"]) > 1:
                text += " ± " + fmt.format(summary["std"])
            cells.append(text)
        rows.append([label, "", *cells, ""])
        best.append(None)
    rows.append(["epochs trained", "",
                 *[", ".join(map(str, sorted(set(v["epochs"])))) for v in variants], ""])
    best.append(None)
    return header, rows, best


def _best_index(values: list[float | None], better: str) -> int | None:
    present = [(value, index) for index, value in enumerate(values) if value is not None]
    if len(present) < 2 or better not in ("lower", "higher"):
        return None
    chosen = min(present) if better == "lower" else max(present)
    ties = sum(value == chosen[0] for value, _ in present)
    return chosen[1] if ties == 1 else None  # a tie has no best


def _context_lines(results: dict[str, Any]) -> list[str]:
    real, evaluator = results["real"], results["evaluator"]
    budget = results["budget"]
    budget_text = (f"{budget['epochs']} epoch{'s' if budget['epochs'] != 1 else ''}" if "epochs" in budget
                   else f"{budget['budget_seconds']:g} seconds of training (whole epochs)")
    seeds = "seed 0" if results["seeds"] == 1 else f"seeds 0..{results['seeds'] - 1}"
    accuracy = evaluator.get("test_accuracy")
    trained = [v["name"] for v in results["variants"] if v["source"] == "trained"]
    lines = [
        f"Dataset {results['dataset']}; "
        + (f"{', '.join(trained)} trained now for {budget_text} each, with {seeds}; " if trained else "")
        + f"every run sampled from the same noise (seed {results['noise_seed']}; conditional runs "
        f"ask for labels 0, 1, ..., {(results.get('num_classes') or 10) - 1} in turn).",
        f"n = {results['n']:,} generated images per run against {real['n_real']:,} real images "
        f"({real['real_split']}). FID and KID depend on n: compare them only at equal n.",
        f"Real vs real: {real['n_real']:,} other real images ({real['floor_split']}) scored the same "
        "way: what a perfect generator would get.",
        f"Evaluator: the {evaluator['dataset']} classifier {evaluator['file']}, sha256 "
        f"{evaluator['sha256']}, held-out accuracy "
        + ("not measured" if accuracy is None else f"{accuracy:.2%}") + ".",
    ]
    lines += [note for note in (real.get("notice"), real.get("data_notice")) if note]
    lines += results.get("notes", [])
    lines.append("Ranking by FID (lower is better): " + " < ".join(results["ranking"]["order"]) + ".")
    return lines


# -- documents -------------------------------------------------------------------------------------

CLOSEST_PAIRS = "closest_pairs.png"
HIGHLIGHT_RULE = ("Only metrics whose best value alone marks the better generator are marked: "
                  "never precision, density or the unrecognised share (a collapsed generator scores "
                  "precision 1.000 and 0% unrecognised), the "
                  "copy ratios or the Parzen log-likelihood.")


def markdown(results: dict[str, Any], out: Path = Path(".")) -> str:
    header, rows, best = table(results)
    names = ", ".join(v["name"] for v in results["variants"])
    lines = [f"# gankit comparison: {names}", ""]
    lines += [f"- {line}" for line in _context_lines(results)] + [""]
    lines += ["## Samples", "", "![side by side](side_by_side.png)", "", "## Metrics", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| " + " | ".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + " |")
    for row, best_index in zip(rows, best):
        cells = list(row)
        if best_index is not None:
            cells[2 + best_index] = f"**{cells[2 + best_index]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Bold: the best variant on that metric. {HIGHLIGHT_RULE} See docs/metrics.md for "
              "what each metric means.", ""]
    if (out / CLOSEST_PAIRS).is_file():
        lines += ["## Memorisation", "", *_memorisation_lines(results), "",
                  f"![closest pairs]({CLOSEST_PAIRS})", ""]
    lines += ["## Losses", "", "![losses](losses.png)", ""]
    return "\n".join(lines)


def _memorisation_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for v in results["variants"]:
        flagged = [r["run_dir"] for r in v["runs"] if r.get("memorised")]
        share = v["mean"].get("near_copies")
        if share is not None:
            lines.append(f"- {v['name']}: {share:.1%} of the samples are near-copies of a training image"
                         + (f"; FLAGGED as memorising: {', '.join(flagged)}" if flagged else "") + ".")
    lines.append("Each panel: the samples nearest to a training image (top row) over that training "
                 "image (bottom row), first seed. A near-copy is closer, in pixels, than 1% of real "
                 "training images are to their nearest other training image.")
    return lines


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #eef7ee; }
td.floor { color: #555; background: #f6f6f6; }
img { max-width: 100%; }
"""


def html_report(results: dict[str, Any], out: Path) -> str:
    header, rows, best = table(results)
    names = html.escape(", ".join(v["name"] for v in results["variants"]))
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>gankit comparison: {names}</title><style>{_STYLE}</style></head><body>",
             f"<h1>gankit comparison: {names}</h1><ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in _context_lines(results)]
    parts.append("</ul><h2>Samples</h2>")
    parts.append(f"<img alt='side by side samples' src='{_data_uri(out / 'side_by_side.png')}'>")
    parts.append("<h2>Metrics</h2><table><tr>"
                 + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row, best_index in zip(rows, best):
        cells = [f"<td>{html.escape(row[0])}</td>", f"<td>{html.escape(row[1])}</td>"]
        for index, cell in enumerate(row[2:-1]):
            kind = "num best" if index == best_index else "num"
            cells.append(f"<td class='{kind}'>{html.escape(cell)}</td>")
        cells.append(f"<td class='num floor'>{html.escape(row[-1])}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append(f"</table><p>Highlighted: the best variant on that metric. {html.escape(HIGHLIGHT_RULE)} "
                 "The last column scores real images against real images.</p>")
    if (out / CLOSEST_PAIRS).is_file():
        parts.append("<h2>Memorisation</h2><ul>" + "".join(
            f"<li>{html.escape(line.lstrip('- '))}</li>" for line in _memorisation_lines(results)) + "</ul>")
        parts.append(f"<img alt='closest pairs' src='{_data_uri(out / CLOSEST_PAIRS)}'>")
    parts.append("<h2>Losses</h2>")
    parts.append(f"<img alt='loss curves' src='{_data_uri(out / 'losses.png')}'>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def print_table(results: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    header, rows, best = table(results)
    rich_table = Table(title=f"gankit compare on {results['dataset']} (n = {results['n']:,})",
                       title_justify="left")
    for index, name in enumerate(header):
        rich_table.add_column(name, justify="left" if index < 2 else "right",
                              style="dim" if index == len(header) - 1 else None)
    for row, best_index in zip(rows, best):
        cells = list(row)
        if best_index is not None:
            cells[2 + best_index] = f"[bold green]{cells[2 + best_index]}[/]"
        rich_table.add_row(*cells)
    console.print(rich_table)
    for line in _context_lines(results)[1:]:
        console.print(line)


def write_reports(results: dict[str, Any], panels: dict[str, Panel], out: Path,
                  console: Any = None, closest: dict[str, Panel] | None = None) -> None:
    """Write every output into ``out`` and print the table; ``panels`` are the pictured samples,
    ``closest`` each variant's samples nearest to a training image over those images."""
    out.mkdir(parents=True, exist_ok=True)
    save_side_by_side(panels, out / "side_by_side.png")
    if closest:
        save_side_by_side(closest, out / CLOSEST_PAIRS)
    plot_loss_overlay(results, out / "losses.png")
    write_json_atomic(out / "results.json", results)
    write_text_atomic(out / "report.md", markdown(results, out))
    write_text_atomic(out / "report.html", html_report(results, out))
    if console is not None:
        print_table(results, console)
        console.print(f"[green]Wrote[/] {out}/side_by_side.png, losses.png, report.md, report.html, "
                      "results.json")
