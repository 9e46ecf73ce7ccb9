"""The marketplace server, Harvest's fourth shell: an HTTP API over the same packages.

``harvest serve`` runs :func:`server.app.create_app` on uvicorn; ``harvest models serve``
runs :mod:`server.scoring`, a standalone scoring server that speaks MLflow's protocol. Like
the command line, Dagster and the dashboard, it holds no logic the packages need: who may
read what is :mod:`catalog.access`, prediction is :mod:`training.predict`.
"""
