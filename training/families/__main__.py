"""``python -m training.families``: print the family table that docs/training.md carries."""

from training.families import family_table

print(family_table())
