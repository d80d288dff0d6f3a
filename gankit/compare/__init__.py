"""``gankit compare``: the same data, seeds, noise, budget and evaluator for every variant.

- :mod:`gankit.compare.run` — train or load each entry, sample from shared noise, score;
- :mod:`gankit.compare.figures` — the side-by-side samples and the loss overlay, from images;
- :mod:`gankit.compare.report` — the table as Markdown, HTML, JSON and in the terminal.
"""

from gankit.compare.run import CompareOptions, run_comparison

__all__ = ["CompareOptions", "run_comparison"]
