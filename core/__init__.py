"""The foundation every package stands on: the workspace and its settings (``HARVEST_HOME``,
where the catalog and data live), the errors people see as one sentence, and helper
processes. It imports nothing of Harvest's, so the import graph points one way:
``core`` ← ``catalog`` ← ``scrapers``, ``training`` ← ``jobs`` ← the shells (``harvest``,
``dashboard``, ``dagster_project``).
"""
