"""Evaluating generated images with small, shipped classifiers instead of Inception.

Importing this package does not import torch; the modules do:

- :mod:`gankit.evaluate.network` - the classifier (its penultimate layer is the feature space);
- :mod:`gankit.evaluate.evaluator` - the shipped weights, their sha256, feature extraction;
- :mod:`gankit.evaluate.train_evaluator` - ``gankit evaluator train``;
- :mod:`gankit.evaluate.metrics` - FID, KID, IS, precision/recall, density/coverage, modes;
- :mod:`gankit.evaluate.reference` - the real reference set and the real-vs-real floor;
- :mod:`gankit.evaluate.score` - scoring a generator or a run (``gankit evaluate``);
- :mod:`gankit.evaluate.in_training` - ``gankit train --eval-every K``.

See docs/metrics.md for what each number means.
"""
