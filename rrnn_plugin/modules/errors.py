"""Errors of the framework-free core (`rrnn_plugin.modules`, `rrnn_plugin.kernels`).

The core must import without AllenNLP (an exported model runs with torch alone), so it cannot raise
AllenNLP's `ConfigurationError`.  Both errors are `ValueError`s: AllenNLP's `from_params` treats a
ValueError from a constructor like its own configuration errors (it tries the next type of a Union
and otherwise reports it with the config key that failed).
"""


class ConfigurationError(ValueError):
    """A constructor argument (a config key's value) that cannot build an encoder."""


class NonFiniteInputError(ValueError):
    """The encoder was given NaN or infinite input values (broken embeddings or features)."""
