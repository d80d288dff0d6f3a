"""``gankit zoo``: the leaderboard of every installed variant on one dataset, budget and set of seeds.

- :mod:`gankit.zoo.plan` — the options, the protocol a table holds, what of it is already done;
- :mod:`gankit.zoo.run` — train and score the runs still missing (compare's machinery), saving as it goes;
- :mod:`gankit.zoo.table` — the table as ``zoo.json``, ``zoo.md``, ``zoo.html`` and in the terminal.
"""

from gankit.zoo.plan import ZooOptions
from gankit.zoo.run import run_zoo

__all__ = ["ZooOptions", "run_zoo"]
