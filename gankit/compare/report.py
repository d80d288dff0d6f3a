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

from gankit._io import files_replaced_together, write_json_atomic, write_text_atomic
from gankit.compare.figures import ANIMATION, Panel, save_side_by_side, save_side_by_side_animation
from gankit.plots import plot_loss_overlay


def cell(key: str, summary_mean: float | None, summary_std: float | None, num_classes: int | None,
          shown_std: bool) -> str:
    """One table cell: a mean as its metric formats it (modes as k/K), ``± std`` when shown;
    gankit zoo's table uses it too, so both read alike."""
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
        cells = [cell(key, v["mean"].get(key), v["std"].get(key), classes, len(v["runs"]) > 1)
                 for v in variants]
        rows.append([info.label, info.better, *cells,
                     cell(key, results["floor"].get(key), None, classes, False)])
        values = [v["mean"].get(key) for v in variants]
        shown = [cell(key, value, None, classes, False) for value in values]
        best.append(best_index(values, info.better, shown) if info.ranks else None)
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
    for key, label in (("epochs", "epochs trained"), ("g_steps", "generator updates"),
                       ("images_seen", "real images seen by D")):
        rows.append([label, "", *[", ".join(f"{n:,}" for n in sorted(set(v.get(key) or [])))
                                  or "-" for v in variants], ""])
        best.append(None)
    return header, rows, best


def recipe_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """What each variant was trained with: one row per setting, one column per variant."""
    variants = [v for v in results["variants"] if v.get("recipe")]
    header = ["recipe", *[v["name"] for v in variants]]
    settings = (
        ("loss", lambda r: str(r["loss"])),
        ("optimizer", lambda r: str(r["optimizer"])),
        ("learning rate", lambda r: f"{r['g_lr']:g}" if r["g_lr"] == r["d_lr"]
         else f"G {r['g_lr']:g}, D {r['d_lr']:g}"),
        ("betas", lambda r: ", ".join("-" if b is None else f"{b:g}" for b in r["betas"])),
        ("batch size", lambda r: str(r["batch_size"])),
        ("D steps per G step", lambda r: str(r["n_critic"])),
        ("z width", lambda r: str(r["latent_dim"])),
        ("G weight averaging (EMA)", lambda r: f"{r['ema']:g}" if r["ema"] else "off"),
        ("G parameters", lambda r: f"{r['g_params']:,}"),
        ("D parameters", lambda r: f"{r['d_params']:,}"),
        ("precision", lambda r: str(r["precision"])),
    )
    rows = [[name, *[shown(v["recipe"]) for v in variants]] for name, shown in settings]
    return header, rows


def best_index(values: list[float | None], better: str, shown: list[str]) -> int | None:
    """The column of the best value, or None when there is no best: fewer than two values, no
    direction, or a tie as the table shows the values (IS 1.00 beside 1.00 is a tie)."""
    present = [(value, index) for index, value in enumerate(values) if value is not None]
    if len(present) < 2 or better not in ("lower", "higher"):
        return None
    chosen = min(present) if better == "lower" else max(present)
    ties = sum(shown[index] == shown[chosen[1]] for _, index in present)
    return chosen[1] if ties == 1 else None


def budget_text(budget: dict[str, Any]) -> str:
    if "epochs" in budget:
        return f"{budget['epochs']} epoch{'s' if budget['epochs'] != 1 else ''}"
    if "g_steps" in budget:
        return f"the whole epochs nearest to {budget['g_steps']:,} generator updates"
    return f"{budget['budget_seconds']:g} seconds of training (whole epochs)"


def noise_line(results: dict[str, Any]) -> str:
    """Say honestly what "the same noise" means: one seed, the same z only where widths agree."""
    widths = {v["name"]: v.get("recipe", {}).get("latent_dim") for v in results["variants"]}
    classes = (results.get("num_classes") or 10) - 1
    labels = (f"; conditional runs ask for labels 0, 1, ..., {classes} in turn"
              if any(v.get("conditional") for v in results["variants"]) else "")
    if len(set(widths.values())) <= 1:
        width = next(iter(widths.values()), None)
        return (f"every run sampled from the same noise (seed {results['noise_seed']}"
                + (f", z {width}-d" if width else "") + f"{labels}).")
    described = ", ".join(f"{name} {width}-d" for name, width in widths.items())
    return (f"every run sampled from noise of the same seed ({results['noise_seed']}); the z "
            f"widths differ ({described}), so only runs of equal width share their z{labels}.")


def without_home(text: str) -> str:
    """A report is shared: the home folder shows as ~, not as someone's absolute path."""
    home = str(Path.home())
    return text.replace(home, "~") if home not in ("", "/") else text


def _context_lines(results: dict[str, Any]) -> list[str]:
    real, evaluator = results["real"], results["evaluator"]
    seeds = "seed 0" if results["seeds"] == 1 else f"seeds 0..{results['seeds'] - 1}"
    accuracy = evaluator.get("test_accuracy")
    trained = [v["name"] for v in results["variants"] if v["source"] == "trained"]
    lines = [
        f"Dataset {results['dataset']}; "
        + (f"{', '.join(trained)} trained now for {budget_text(results['budget'])} each, with "
           f"{seeds}; " if trained else "") + noise_line(results),
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
    return [without_home(line) for line in lines]


# -- documents -------------------------------------------------------------------------------------

CLOSEST_PAIRS = "closest_pairs.png"
ANIMATION_LINE = ("Moving: every variant's per-epoch sample grid (its first seed's run, from that run's "
                  "fixed noise) at the same epoch in each frame; a variant with fewer epochs holds its last.")
HIGHLIGHT_RULE = ("Only metrics whose best value alone marks the better generator are marked: "
                  "never precision, density or the unrecognised share (a collapsed generator scores "
                  "precision 1.000 and 0% unrecognised), the "
                  "copy ratios or the Parzen log-likelihood.")


def markdown(results: dict[str, Any], out: Path = Path(".")) -> str:
    header, rows, best = table(results)
    names = ", ".join(v["name"] for v in results["variants"])
    lines = [f"# gankit comparison: {names}", ""]
    lines += [f"- {line}" for line in _context_lines(results)] + [""]
    lines += ["## Samples", "", "![side by side](side_by_side.png)", ""]
    if (out / ANIMATION).is_file():
        lines += [f"![training, epoch by epoch]({ANIMATION})", "", ANIMATION_LINE, ""]
    lines += ["## Metrics", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| " + " | ".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + " |")
    for row, best_index in zip(rows, best):
        cells = list(row)
        if best_index is not None:
            cells[2 + best_index] = f"**{cells[2 + best_index]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Bold: the best variant on that metric; a tie as shown is not marked. {HIGHLIGHT_RULE}",
              "", "## Recipes", "", *_markdown_table(*recipe_table(results)), "",
              "## What the metrics mean", "",
              *[f"- **{info.label}** ({info.better} is better): {info.about}."
                for info in _shown_metrics(results)],
              "", f"{METRICS_DOC} explains each, its biases and how it was validated.", ""]
    if (out / CLOSEST_PAIRS).is_file():
        lines += ["## Memorisation", "", *_memorisation_lines(results), "",
                  f"![closest pairs]({CLOSEST_PAIRS})", ""]
    lines += ["## Losses", "", "![losses](losses.png)", ""]
    return "\n".join(lines)


METRICS_DOC = "docs/metrics.md in gankit's source"


def _shown_metrics(results: dict[str, Any]) -> list[Any]:
    from gankit.evaluate.metrics import METRICS

    return [info for key, info in METRICS.items() if any(key in v["mean"] for v in results["variants"])]


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


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


def data_uri(path: Path, mime: str = "image/png") -> str:
    """An image (a PNG unless ``mime`` says) as a data: URI, so that an HTML report is one
    self-contained file."""
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


STYLE = """
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
             f"<title>gankit comparison: {names}</title><style>{STYLE}</style></head><body>",
             f"<h1>gankit comparison: {names}</h1><ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in _context_lines(results)]
    parts.append("</ul><h2>Samples</h2>")
    parts.append(f"<img alt='side by side samples' src='{data_uri(out / 'side_by_side.png')}'>")
    if (out / ANIMATION).is_file():
        parts.append(f"<p><img id='timelapse' alt='training, epoch by epoch, side by side' "
                     f"src='{data_uri(out / ANIMATION, 'image/gif')}'></p>"
                     f"<p>{html.escape(ANIMATION_LINE)}</p>")
    parts.append("<h2>Metrics</h2><table><tr>"
                 + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    anchors = {info.label: f"metric-{index}" for index, info in enumerate(_shown_metrics(results))}
    for row, best_index in zip(rows, best):
        name = html.escape(row[0])
        if row[0] in anchors:  # the metric's name leads to its explanation below
            name = f"<a href='#{anchors[row[0]]}'>{name}</a>"
        cells = [f"<td>{name}</td>", f"<td>{html.escape(row[1])}</td>"]
        for index, cell in enumerate(row[2:-1]):
            kind = "num best" if index == best_index else "num"
            cells.append(f"<td class='{kind}'>{html.escape(cell)}</td>")
        cells.append(f"<td class='num floor'>{html.escape(row[-1])}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append(f"</table><p>Highlighted: the best variant on that metric; a tie as shown is not marked. "
                 f"{html.escape(HIGHLIGHT_RULE)} The last column scores real images against real images.</p>")
    parts.append("<h2>Recipes</h2>" + _html_table(*recipe_table(results)))
    parts.append("<h2>What the metrics mean</h2><dl>" + "".join(
        f"<dt id='{anchors[info.label]}'><b>{html.escape(info.label)}</b> ({html.escape(info.better)} is "
        f"better)</dt><dd>{html.escape(info.about)}.</dd>" for info in _shown_metrics(results))
        + f"</dl><p>{html.escape(METRICS_DOC)} explains each, its biases and how it was validated.</p>")
    if (out / CLOSEST_PAIRS).is_file():
        parts.append("<h2>Memorisation</h2><ul>" + "".join(
            f"<li>{html.escape(line.lstrip('- '))}</li>" for line in _memorisation_lines(results)) + "</ul>")
        parts.append(f"<img alt='closest pairs' src='{data_uri(out / CLOSEST_PAIRS)}'>")
    parts.append("<h2>Losses</h2>")
    parts.append(f"<img alt='loss curves' src='{data_uri(out / 'losses.png')}'>")
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
    header, rows = recipe_table(results)
    recipes = Table(title="recipes", title_justify="left")
    for index, name in enumerate(header):
        recipes.add_column(name, justify="left" if index == 0 else "right")
    for row in rows:
        recipes.add_row(*row)
    console.print(recipes)
    for line in _context_lines(results)[1:]:
        console.print(line)


def write_reports(results: dict[str, Any], panels: dict[str, Panel], out: Path,
                  console: Any = None, closest: dict[str, Panel] | None = None) -> None:
    """Write every output into ``out`` and print the table; ``panels`` are the pictured samples,
    ``closest`` each variant's samples nearest to a training image over those images."""
    # All or nothing: written into a temporary folder, then each file replaces its namesake; if
    # one fails none is replaced, so report.md never describes another run than report.html.
    with files_replaced_together(out, stale=(CLOSEST_PAIRS, ANIMATION)) as staged:
        save_side_by_side(panels, staged / "side_by_side.png")
        animation = save_side_by_side_animation(
            {v["name"]: Path(v["runs"][0]["run_dir"]) for v in results["variants"]}, staged / ANIMATION)
        if animation is not None:  # a key added beside the others: readers of results.json keep theirs
            results["animation"] = animation
        if closest:
            save_side_by_side(closest, staged / CLOSEST_PAIRS)
        plot_loss_overlay(results, staged / "losses.png")
        write_json_atomic(staged / "results.json", results)
        write_text_atomic(staged / "report.md", markdown(results, staged))
        write_text_atomic(staged / "report.html", html_report(results, staged))
    if console is not None:
        print_table(results, console)
        console.print(f"[green]Wrote[/] {out}/side_by_side.png, "
                      + (f"{ANIMATION}, " if "animation" in results else "")
                      + "losses.png, report.md, report.html, results.json")
