"""The ``harvest`` command line: ``harvest.cli`` routes to one module per command group in
``harvest.commands``; each command is a short shell over the packages and the launcher."""
