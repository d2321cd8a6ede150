"""Command-line tools of rrnn_plugin; importing this package registers the AllenNLP subcommands."""
import warnings

# `python -m rrnn_plugin.commands.glove` runs glove.py as __main__ after this package has imported
# it; that is expected (the subcommand registers with exist_ok=True), so runpy's warning is noise.
warnings.filterwarnings(
    "ignore", message=r"'rrnn_plugin\.commands\.glove' found in sys\.modules", category=RuntimeWarning
)

from rrnn_plugin.commands.glove import (  # noqa: E402
    GloveCommand,
    collect_vocabulary,
    load_glove,
    write_glove_text,
)
from rrnn_plugin.commands.search import SearchCommand  # noqa: E402
from rrnn_plugin.commands.sweep import SweepCommand  # noqa: E402
from rrnn_plugin.commands.report import ReportCommand  # noqa: E402
from rrnn_plugin.commands.features import FeaturesCommand  # noqa: E402
from rrnn_plugin.commands.serve import ServeCommand  # noqa: E402
from rrnn_plugin.commands.export import ExportCommand  # noqa: E402
from rrnn_plugin.commands.visualize import DrawStructureCommand, VisualizeCommand  # noqa: E402

__all__ = ["GloveCommand", "collect_vocabulary", "load_glove", "write_glove_text"]
__all__ += ["SearchCommand", "SweepCommand", "ReportCommand", "FeaturesCommand", "ServeCommand", "ExportCommand"]
__all__ += ["VisualizeCommand", "DrawStructureCommand"]
