"""rrnn_plugin: sparse rational RNNs (Dodge et al., EMNLP 2019) for AllenNLP.

Importing the package registers its encoder, readers, model, predictor and subcommands, applies the
small AllenNLP/torch compatibility layer, and sets defaults for the environment variables the
bundled configs read (`RRNN_DATA_DIR`, `RRNN_GLOVE_FILE`), so `allennlp train training_configs/...`
works from a checkout with no extra flags.  `RRNN_LAMBDA` and `RRNN_STRUCTURE_ARCHIVE` default to
"" (jsonnet cannot test whether an ext var exists), meaning "the config's own value".

Without AllenNLP installed, only the framework-free core loads (`rrnn_plugin.modules`,
`rrnn_plugin.kernels`, `rrnn_plugin.export`): what an exported model needs, with torch alone.
"""
import importlib.util
import os
import warnings
from pathlib import Path

# google-api-core (AllenNLP's cloud-storage dependency) warns on every import that Google will stop
# supporting Python 3.11 in 2027; it says nothing about this package and cluttered `make demo`.
warnings.filterwarnings("ignore", message="You are using a Python version .* which Google will stop supporting",
                        category=FutureWarning)

_PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _default_data_dir() -> Path:
    """data/blitzer of the checkout (what `make data` writes), or a copy beside the checkout
    (../shared/data/blitzer, the development machines') when the checkout has none."""
    own = _PROJECT_ROOT / "data" / "blitzer"
    beside = (_PROJECT_ROOT / ".." / "shared" / "data" / "blitzer").resolve()
    return own if own.is_dir() or not beside.is_dir() else beside


os.environ.setdefault("RRNN_DATA_DIR", str(_default_data_dir()))
os.environ.setdefault("RRNN_GLOVE_FILE", str(_PROJECT_ROOT / "data" / "glove" / "glove.6B.50d.blitzer.txt"))
os.environ.setdefault("RRNN_LAMBDA", "")
os.environ.setdefault("RRNN_STRUCTURE_ARCHIVE", "")
os.environ.setdefault("RRNN_TAGGING_DIR", "")  # training_configs/composed/tagger.jsonnet: '' = the fixture

if importlib.util.find_spec("allennlp") is not None:  # the core (modules, kernels) needs torch only
    from rrnn_plugin import command_guards, compat  # noqa: E402,F401
    from rrnn_plugin.dataset_readers import *  # noqa: E402,F401,F403
    from rrnn_plugin.encoders import *  # noqa: E402,F401,F403
    from rrnn_plugin.models import *  # noqa: E402,F401,F403
    from rrnn_plugin.modules import *  # noqa: E402,F401,F403
    from rrnn_plugin.training import *  # noqa: E402,F401,F403
    from rrnn_plugin.contextual import *  # noqa: E402,F401,F403
    from rrnn_plugin.predictors import *  # noqa: E402,F401,F403
    from rrnn_plugin.commands import *  # noqa: E402,F401,F403

    command_guards.install()  # predict and evaluate lose no file to a wrong output path
