"""`allennlp rrnn-features CONFIG`: compute and cache a contextual config's features ahead of training.

    allennlp rrnn-features training_configs/kitchen/bert_baseline_1.jsonnet \\
        --data-path "$RRNN_DATA_DIR/kitchen" --data-path "$RRNN_DATA_DIR/dvd" --threads 2

Reads the documents of the given data paths (default: the config's train/validation/test paths)
with the config's reader, and stores the features of every `contextual_features` embedder of the
config in the feature cache, so that training runs (and all folds of a cross-validated sweep,
which together read every document) only read them.  Everything runs in this one process with
all its threads, documents batched by length; the rate is logged (documents/s, WordPieces/s).
"""
import argparse
import json
import logging
import time

from allennlp.commands.subcommand import Subcommand

logger = logging.getLogger(__name__)
_DESCRIPTION = "Precompute the contextual features of a config's data into the feature cache."


@Subcommand.register("rrnn-features", exist_ok=True)
class FeaturesCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_DESCRIPTION, help=_DESCRIPTION)
        subparser.add_argument("config", help="a training config with contextual_features embedders")
        subparser.add_argument("--data-path", action="append", default=[],
                               help="data to featurize (repeatable; default: the config's train/validation/test)")
        subparser.add_argument("-o", "--overrides", default="", help="JSON overrides of the config")
        subparser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
        subparser.set_defaults(func=_run)
        return subparser


def _run(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    result = precompute(args.config, args.data_path, args.overrides)
    print(json.dumps(result, indent=2))


def precompute(config: str, data_paths=(), overrides: str = "") -> dict:
    """Fill the cache for `data_paths`; return counts and the rate."""
    from allennlp.common import Params
    from allennlp.data import DatasetReader, Vocabulary
    from allennlp.modules import TokenEmbedder

    from rrnn_plugin.contextual.feature_embedder import ContextualFeatureEmbedder
    from rrnn_plugin.contextual.precompute_callback import document_wordpieces

    params = Params.from_file(config, overrides)
    reader = DatasetReader.from_params(params.get("dataset_reader").duplicate())
    embedders = params.get("model").get("text_field_embedder").get("token_embedders").as_dict(quiet=True)
    contextual = {name: spec for name, spec in embedders.items() if spec.get("type") == "contextual_features"}
    if not contextual:
        raise SystemExit(f"{config}: no contextual_features embedder under model.text_field_embedder")
    paths = list(data_paths) or [params.get(key) for key in ("train_data_path", "validation_data_path",
                                                            "test_data_path") if params.get(key, None)]
    vocabulary = Vocabulary()
    instances = [instance for path in paths for instance in reader.read(path)]
    summary = {"documents": len(instances), "embedders": {}}
    for name, spec in contextual.items():
        embedder: ContextualFeatureEmbedder = TokenEmbedder.from_params(Params(dict(spec)))
        documents = document_wordpieces(instances, name, vocabulary)
        before = dict(embedder.stats)
        started = time.perf_counter()
        computed = embedder.precompute(documents)
        seconds = time.perf_counter() - started
        pieces = embedder.stats["computed_wordpieces"] - before["computed_wordpieces"]
        summary["embedders"][name] = {
            "cache": str(embedder.cache.folder), "computed_documents": computed, "seconds": round(seconds, 1),
            "documents_per_s": round(computed / seconds, 2) if computed else None,
            "wordpieces_per_s": round(pieces / seconds, 1) if computed else None,
        }
    return summary
