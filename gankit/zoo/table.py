"""The leaderboard's documents: ``zoo.json``, ``zoo.md``, ``zoo.html`` and a Rich table.

One row per variant, sorted by mean FID, one column per headline metric (mean ± std over the seeds,
formatted by compare's :func:`~gankit.compare.report.cell`, so a number reads the same in both
reports), then the time per run, images/s, G's updates and the first seed's grid; the real-vs-real
floor is the last row. ``zoo.json`` keeps every per-seed number and the protocol; the Markdown links
each grid (``grids/VARIANT.png``), the HTML embeds it. All three are rebuilt from ``zoo.json``'s
contents after every run scored, so a table killed half-way is still a table.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from gankit._io import files_replaced_together, write_json_atomic, write_text_atomic
from gankit.compare.report import (HIGHLIGHT_RULE, METRICS_DOC, STYLE, best_index, budget_text, cell,
                                   data_uri, noise_line, without_home)
from gankit.compare.run import contender_record, summarise
from gankit.zoo.plan import FORMAT, ZOO_FILE, Table

COLUMNS = ("fid", "kid", "precision", "recall", "modes_covered")  # the headline metrics, in order
SHORT = {"precision": "precision", "recall": "recall", "modes_covered": "modes"}  # the terminal's
GRIDS_DIR = "grids"
MARKDOWN_FILE, HTML_FILE = "zoo.md", "zoo.html"


def results_of(table: Table) -> dict[str, Any]:
    """What zoo.json holds: the protocol, what was scored against, every variant's runs (and their
    mean and std) by mean FID, the variants that could not run, and the ranking."""
    variants = []
    for label, entry in table.entries.items():
        if entry.results:
            record = contender_record(entry)
            record["train_seconds"] = summarise([r["train_seconds"] for r in entry.results])
            grid = f"{GRIDS_DIR}/{label.replace(':', '-')}.png"
            record["grid"] = grid if (table.out / grid).is_file() else None
            record["complete"] = len(entry.results) >= table.protocol["seeds"]
            variants.append(record)
    variants.sort(key=lambda v: (v["mean"].get("fid", float("inf")), v["name"]))
    return {
        "format": FORMAT, "gankit_version": table.scored_against.get("gankit_version"),
        "created": table.created,
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "protocol": table.protocol, "dataset": table.protocol["dataset"],
        "data_options": table.protocol["data_options"], "seeds": table.protocol["seeds"],
        "budget": table.protocol["budget"], **table.scored_against,
        "variants": variants,
        "skipped": [{"name": label, **item} for label, item in sorted(table.skipped.items())],
        "ranking": {"by": "fid", "order": [v["name"] for v in variants]},
    }


def rows(results: dict[str, Any], grid_cell: Any, short: bool = False
         ) -> tuple[list[str], list[list[str]], list[int | None]]:
    """Header, one row of text cells per variant (then the floor's), and per column the row of
    the best variant (None: no best, or a column that does not rank). ``short``: the terminal's
    narrower header."""
    from gankit.evaluate.metrics import METRICS

    variants, classes = results["variants"], results.get("num_classes")
    keys = [key for key in COLUMNS if any(key in v["mean"] for v in variants) or not variants]
    header = ["#", "variant", *[SHORT.get(key, METRICS[key].label) if short else METRICS[key].label
                                for key in keys],
              *(("s / run", "img / s", "G steps", "grid") if short else
                ("wall time / run", "images / s", "G updates", "grid"))]
    table = []
    for rank, v in enumerate(variants, 1):
        several = len(v["runs"]) > 1
        name = v["name"] + ("" if v["complete"] else f" ({len(v['runs'])} of {results['seeds']} seeds)")
        table.append([str(rank), name,
                      *[cell(key, v["mean"].get(key), v["std"].get(key), classes, several) for key in keys],
                      _summary(v["train_seconds"], several, _seconds), _summary(v["images_per_s"], several,
                                                                                  "{:,.0f}".format),
                      ", ".join(f"{n:,}" for n in sorted(set(v["g_steps"]))), grid_cell(v)])
    floor = results.get("floor") or {}
    table.append(["", "real vs real", *[cell(key, floor.get(key), None, classes, False) for key in keys],
                  "", "", "", ""])
    best = []
    for key in keys:
        values = [v["mean"].get(key) for v in variants]
        shown = [cell(key, value, None, classes, False) for value in values]
        best.append(best_index(values, METRICS[key].better, shown) if METRICS[key].ranks else None)
    return header, table, [None, None, *best, None, None, None, None]


def _summary(summary: dict[str, float] | None, several: bool, shown: Any) -> str:
    if summary is None:
        return "-"
    return shown(summary["mean"]) + (f" ± {shown(summary['std'])}" if several else "")


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 100 else f"{value:,.0f} s"


def context_lines(results: dict[str, Any]) -> list[str]:
    """The table's header: what was trained, on what, how it was scored, and where it was timed."""
    protocol, real, evaluator = results["protocol"], results.get("real") or {}, results.get("evaluator") or {}
    seeds = "seed 0" if results["seeds"] == 1 else f"seeds 0..{results['seeds'] - 1}"
    options = ", ".join(f"{key}={value}" for key, value in protocol["data_options"].items())
    subset = f", a seeded subset of {protocol['max_images']:,} images" if protocol["max_images"] else ""
    lines = [
        f"Dataset {results['dataset']}{f' ({options})' if options else ''}{subset}; every variant trained "
        f"for {budget_text(results['budget'])}, with {seeds}; " + noise_line(results),
        f"n = {results.get('n', 0):,} generated images per run against {real.get('n_real', 0):,} real images "
        f"({real.get('real_split')}); the floor: {real.get('n_real', 0):,} other real images "
        f"({real.get('floor_split')}). FID and KID depend on n: compare them only at equal n.",
        _features_line(protocol, evaluator),
        *[note for note in (real.get("notice"), real.get("data_notice")) if note],
        *_host_lines(results),
        "Each cell: the mean over the seeds ± their standard deviation (none with one seed). Wall time / "
        "run: the training steps' seconds, summed over the run's epochs (metrics.jsonl); images/s: real "
        "images through D per second. G updates: each run's generator steps.",
    ]
    lines += _updates_note(results)
    if results["variants"]:
        lines.append("Ranking by FID (lower is better): " + " < ".join(results["ranking"]["order"]) + ".")
    return [without_home(line) for line in lines]


def _updates_note(results: dict[str, Any]) -> list[str]:
    """Say so when whole epochs gave the variants different numbers of G's updates (compare's note)."""
    counts = sorted({n for v in results["variants"] for n in v["g_steps"]})
    if len(counts) < 2:
        return []
    how = ("--g-steps gives each variant the whole epochs nearest to its budget, and a smaller "
           "--max-images makes an epoch fewer updates, so the counts come closer"
           if "g_steps" in results["budget"]
           else "equal epochs are not equal updates: --g-steps N evens them")
    return [f"G's updates differ between the variants ({counts[0]:,} to {counts[-1]:,}): {how}."]


def _features_line(protocol: dict[str, Any], evaluator: dict[str, Any]) -> str:
    ema = "EMA generators where a run kept one" if protocol["ema"] else "raw generators (--no-ema)"
    if protocol["features"] == "inception":
        return (f"Features: InceptionV3 ({evaluator.get('file')}, sha256 {str(evaluator.get('sha256'))[:16]}"
                f"...); scored: {ema}.")
    accuracy = evaluator.get("test_accuracy")
    return (f"Features: the {evaluator.get('dataset')} evaluator {evaluator.get('file')}, sha256 "
            f"{evaluator.get('sha256')}, held-out accuracy "
            + ("not measured" if accuracy is None else f"{accuracy:.2%}") + f"; scored: {ema}.")


def _host_lines(results: dict[str, Any]) -> list[str]:
    """Where the runs were timed: one line if one machine and setup timed them all."""
    hosts: dict[str, list[str]] = {}
    for v in results["variants"]:
        for run in v["runs"]:
            hosts.setdefault(describe_host(run.get("host") or {}), []).append(v["name"])
    precisions = sorted({str(run["recipe"].get("precision"))
                         for v in results["variants"] for run in v["runs"]})
    trained = f" Trained in {' and '.join(precisions)} (each run's --precision, auto by default)." \
        if precisions else ""
    if len(hosts) <= 1:
        return [f"Timed on {next(iter(hosts), 'no run yet')}.{trained}"]
    return ["Timed on several setups; compare times only within one: "
            + "; ".join(f"{where} ({', '.join(sorted(set(names)))})" for where, names in hosts.items())
            + f".{trained}"]


def describe_host(host: dict[str, Any]) -> str:
    cpu = host.get("cpu") or {}
    flags = {True: ", AVX512-BF16", False: ", no AVX512-BF16"}.get(cpu.get("avx512_bf16"), "")
    return (f"{cpu.get('name', 'an unknown CPU')} ({cpu.get('cores')} cores{flags}), {host.get('threads')} "
            f"torch thread(s), device {host.get('device')}; torch {host.get('torch')}, gankit "
            f"{host.get('gankit')}")


def _skipped_lines(results: dict[str, Any]) -> list[str]:
    return [f"{item['name']}: {item['reason']}" for item in results["skipped"]]


def markdown(results: dict[str, Any]) -> str:
    header, table, best = rows(results, lambda v: f"[grid]({v['grid']})" if v.get("grid") else "-")
    lines = [f"# gankit zoo: {results['dataset']}", "", *[f"- {line}" for line in context_lines(results)], ""]
    lines += ["| " + " | ".join(header) + " |",
              "| " + " | ".join(["---:", "---", *["---:"] * (len(header) - 3), "---"]) + " |"]
    for index, row in enumerate(table):
        cells = [f"**{c}**" if best[column] == index else c for column, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Bold: the best variant on that metric; a tie as shown is not marked. {HIGHLIGHT_RULE}",
              f"{METRICS_DOC} explains each metric.", ""]
    if results["skipped"]:
        lines += ["## Could not run", "", *[f"- {line}" for line in _skipped_lines(results)], ""]
    return "\n".join(lines)


def html_page(results: dict[str, Any], out: Path) -> str:
    def grid(v: dict[str, Any]) -> str:
        path = out / v["grid"] if v.get("grid") else None
        if path is None or not path.is_file():
            return "-"
        return f"<img alt='{html.escape(v['name'])}' src='{data_uri(path)}'>"

    header, table, best = rows(results, lambda v: "\0" + v["name"])  # a marker: the image goes there
    title = f"gankit zoo: {html.escape(results['dataset'])}"
    grids = {v["name"]: grid(v) for v in results["variants"]}
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title><style>"
             f"{STYLE}td img {{ width: 140px; }}</style></head><body><h1>{title}</h1><ul>",
             *[f"<li>{html.escape(line)}</li>" for line in context_lines(results)], "</ul><table><tr>",
             "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for index, row in enumerate(table):
        cells = []
        for column, text in enumerate(row):
            kind = "num best" if best[column] == index else "num" if column != 1 else ""
            body = grids[text[1:]] if text.startswith("\0") else html.escape(text)
            cells.append(f"<td class='{kind}{' floor' if index == len(table) - 1 else ''}'>{body}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append(f"</table><p>Highlighted: the best variant on that metric; a tie as shown is not marked. "
                 f"{html.escape(HIGHLIGHT_RULE)} {html.escape(METRICS_DOC)} explains each metric.</p>")
    if results["skipped"]:
        parts.append("<h2>Could not run</h2><ul>" + "".join(
            f"<li>{html.escape(line)}</li>" for line in _skipped_lines(results)) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def print_table(results: dict[str, Any], console: Any) -> None:
    from rich.table import Table as RichTable

    header, table, best = rows(results, lambda v: v.get("grid") or "-", short=True)
    header, table = header[:-1], [row[:-1] for row in table]  # the grids are files: zoo.md links them
    shown = RichTable(title=f"gankit zoo on {results['dataset']} (n = {results.get('n', 0):,})",
                  title_justify="left")
    for index, name in enumerate(header):
        shown.add_column(name, justify="left" if index == 1 else "right", no_wrap=index == 1)
    for index, row in enumerate(table):
        shown.add_row(*[f"[bold green]{c}[/]" if best[column] == index else c
                        for column, c in enumerate(row)],
                      style="dim" if index == len(table) - 1 else None)
    console.print(shown)
    for line in [*context_lines(results)[:-1], *[f"could not run: {s}" for s in _skipped_lines(results)]]:
        console.print(line)


def write_table(results: dict[str, Any], out: Path) -> None:
    """zoo.json, zoo.md and zoo.html, all or none (compare's staged replace)."""
    with files_replaced_together(out) as staged:
        write_json_atomic(staged / ZOO_FILE, results)
        write_text_atomic(staged / MARKDOWN_FILE, markdown(results))
        write_text_atomic(staged / HTML_FILE, html_page(results, out))
