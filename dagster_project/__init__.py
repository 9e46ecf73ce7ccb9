"""dagster_project package."""
