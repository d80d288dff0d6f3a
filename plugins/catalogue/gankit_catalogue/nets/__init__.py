"""The catalogue's networks (torch): imported by a variant's ``build`` only."""
