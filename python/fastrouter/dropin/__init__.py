"""Drop-in compatibility with code written for the ``openai`` package (sentinels, options, raw responses, ...).

Nothing is imported here so that ``fastrouter.types`` can use :mod:`.dump` without a cycle;
the public names are exported from ``fastrouter`` itself.
"""
