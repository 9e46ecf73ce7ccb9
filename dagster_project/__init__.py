"""The Dagster project: assets, checks, schedules, sensors and resources over the packages.

``definitions.py`` builds the code location from the workspace's specs; ``scraping.py``,
``cleaning.py`` and ``training.py`` hold each domain's assets; ``resources.py`` the typed
resources; ``runner.py`` and ``demo.py`` run the graph in-process for ``harvest demo``.
"""
