"""The export's one error type (its own module, so that model.py and checks.py can share it)."""


class ExportError(ValueError):
    """A folder that is not an export this version can read, or a model it cannot export."""
