"""Drop-in compatibility with code written for the ``openai`` package: its sentinels, client options, raw responses, structured outputs, the ``.stream()`` helper and pydantic-style dumps.

Nothing is imported here so that ``fastrouter.types`` can use :mod:`.dump` without a cycle;
the public names are exported from ``fastrouter`` itself.
"""
