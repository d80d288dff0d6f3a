"""``python -m gankit`` runs the CLI."""

from gankit.cli import main

main()
