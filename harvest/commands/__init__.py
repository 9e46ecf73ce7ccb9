"""Command groups of the ``harvest`` CLI, one module per area, each with ``register(app)``."""
