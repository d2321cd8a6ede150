"""An AllenNLP archive -> a self-contained export folder (`allennlp rrnn-export`; reader: model.py).

What is kept: the embedding rows of the model's own vocabulary only (a frozen 400k-word GloVe
matrix is not copied), the WFSA layers as they are after pruning, the classifier, the reader's
tokenization settings.  The folder is written under a temporary name next to the target and
renamed when complete, so an interrupted export never leaves a half folder under the final name.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from allennlp.data.token_indexers import SingleIdTokenIndexer
from allennlp.modules.token_embedders import Embedding

from rrnn_plugin.archives import ArchiveError, load_model_archive
from rrnn_plugin.dataset_readers.sentiment_reader import SentimentReader
from rrnn_plugin.export.model import FORMAT_VERSION, PADDING_INDEX, UNKNOWN_INDEX, ExportError, SentimentNetwork
from rrnn_plugin.export.vectors import VectorsMismatchError, vocabulary_extension
from rrnn_plugin.modules import RationalRnnLayers


def export_archive(
    archive: str, output: str, program: bool = True, force: bool = False, vectors: Optional[str] = None
) -> Dict[str, Any]:
    """Write the export of `archive` to folder `output`; returns its config.

    `vectors`: the pretrained (frozen) word vectors the model was trained with, e.g. the GloVe
    file of its config.  Every word they know that the training data never had is added with its
    vector, so the exported model reads it as that word instead of the unknown token.
    """
    target = Path(output)
    _check_target(target, Path(archive), force)
    try:
        loaded = load_model_archive(archive)
    except ArchiveError as error:
        raise ExportError(str(error)) from error
    network, config, vocabulary = _network(loaded.model.eval(), loaded.validation_dataset_reader, archive)
    if vectors is not None:
        config.update(training_vocab_size=len(vocabulary), vocabulary_extended_from=os.path.basename(vectors))
        network, vocabulary = _extend_with_vectors(network, vocabulary, vectors)
        config.update(vocab_size=len(vocabulary))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _write(staging, network, config, vocabulary, program)
        for card in ("model_card.json", "MODEL_CARD.md"):  # written next to the archive by allennlp train
            if (Path(archive).parent / card).is_file():
                shutil.copyfile(Path(archive).parent / card, staging / card)
        _usual_permissions(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return config


def _check_target(target: Path, archive: Path, force: bool) -> None:
    """A new or empty folder; with --force also an earlier export, never a folder holding the
    archive or the current folder (replacing it would delete them)."""
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return
    if not force:
        raise ExportError(f"{target} exists and is not empty; choose a new folder or pass --force")
    resolved = target.resolve()
    for inside in (archive.resolve(), Path.cwd().resolve()):
        if inside == resolved or resolved in inside.parents:
            raise ExportError(f"--force would delete {target}, which holds {inside}; choose another folder")
    try:
        earlier = json.loads((target / "config.json").read_text()).get("format") == "rrnn_plugin-export"
    except (OSError, ValueError, AttributeError):
        earlier = False
    if not earlier:
        raise ExportError(f"{target} is not an earlier rrnn-export folder (no export config.json); --force only "
                          "replaces those")


def _usual_permissions(folder: Path) -> None:
    """mkdtemp makes a private folder: give it, and its files, what a plain mkdir/open would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.iterdir():
        os.chmod(path, 0o666 & ~umask)


def _network(model, reader, archive: str):
    """The torch-only network of an archived `rational_classifier`, its config and vocabulary."""
    embedding = _single_embedding(model, archive)
    encoder = model._seq2vec_encoder
    if not isinstance(encoder, RationalRnnLayers):
        raise ExportError(f"{archive}: the Seq2Vec encoder is {type(encoder).__name__}; rrnn-export exports "
                          "models whose seq2vec_encoder is rational_rnn")
    unsupported = [name for name in ("_seq2seq_encoder", "_feedforward") if getattr(model, name, None) is not None]
    if unsupported:
        raise ExportError(f"{archive}: rrnn-export does not export {', '.join(n.strip('_') for n in unsupported)} "
                          "yet (embedding -> rational_rnn -> linear only)")
    if not isinstance(reader, SentimentReader):
        raise ExportError(f"{archive}: dataset reader {type(reader).__name__} is not one of rrnn_plugin's "
                          "sentiment readers, whose tokenization the export reproduces")
    indexer = reader._token_indexers.get("tokens")
    if not isinstance(indexer, SingleIdTokenIndexer) or len(reader._token_indexers) != 1:
        raise ExportError(f"{archive}: the reader must index words with one single_id indexer named 'tokens'")
    namespace = indexer.namespace
    vocab = model.vocab
    words = [vocab.get_token_from_index(i, namespace) for i in range(vocab.get_vocab_size(namespace))]
    if vocab.get_token_index(vocab._padding_token, namespace) != PADDING_INDEX or \
            vocab.get_token_index(vocab._oov_token, namespace) != UNKNOWN_INDEX:
        raise ExportError(f"{archive}: namespace {namespace!r} must have padding at 0 and the unknown token at 1")
    label_namespace = getattr(model, "_label_namespace", "labels")
    labels = [vocab.get_token_from_index(i, label_namespace) for i in range(vocab.get_vocab_size(label_namespace))]
    network = SentimentNetwork(len(words), embedding.get_output_dim(), {"layer_wfsa_lengths": encoder.structure,
                               "semiring": encoder.semiring, "num_layers": encoder.num_layers,
                               "bidirectional": encoder.is_bidirectional()}, len(labels))
    with torch.no_grad():
        network.embedding.weight.copy_(embedding.weight[: len(words)])
        network.encoder.load_state_dict(encoder.state_dict())
        network.classifier.load_state_dict(model._classification_layer.state_dict())
    config = {
        "format": "rrnn_plugin-export", "version": FORMAT_VERSION, "labels": labels,
        "vocab_size": len(words), "embedding_dim": embedding.get_output_dim(), "encoder": _encoder_config(network),
        "tokenizer": {"lowercase": reader._lowercase, "clean": reader._clean,
                      "add_boundary_tokens": reader._add_boundary_tokens, "max_tokens": reader._max_tokens,
                      "lowercase_ids": bool(indexer.lowercase_tokens)},
        "transitions": encoder.num_transitions, "wfsas": encoder.num_wfsas,
        "source_archive": os.path.basename(archive),
    }
    return network, config, words


def _extend_with_vectors(network: SentimentNetwork, vocabulary, path: str):
    """`network` with one more embedding row per word of the vectors file it lacks (vectors.py)."""
    try:
        words, rows = vocabulary_extension(network.embedding.weight, vocabulary, path)
    except VectorsMismatchError as error:
        raise ExportError(str(error)) from error
    weight = network.embedding.weight
    extended = SentimentNetwork(len(vocabulary) + len(words), weight.shape[1], _encoder_config(network),
                                network.classifier.out_features)
    with torch.no_grad():
        extended.embedding.weight.copy_(torch.cat([weight, rows]))
        extended.encoder.load_state_dict(network.encoder.state_dict())
        extended.classifier.load_state_dict(network.classifier.state_dict())
    return extended, list(vocabulary) + words


def _encoder_config(network: SentimentNetwork) -> Dict[str, Any]:
    encoder = network.encoder
    return {"layer_wfsa_lengths": encoder.structure, "semiring": encoder.semiring,
            "num_layers": encoder.num_layers, "bidirectional": encoder.is_bidirectional()}


def _single_embedding(model, archive: str) -> Embedding:
    embedders = getattr(model._text_field_embedder, "_token_embedders", {})
    embedding = embedders.get("tokens") if len(embedders) == 1 else None
    if not isinstance(embedding, Embedding):
        kinds = {name: type(e).__name__ for name, e in embedders.items()}
        raise ExportError(f"{archive}: rrnn-export exports models over one word `embedding` ('tokens'), not "
                          f"{kinds} (contextual features need their transformer at prediction time)")
    if getattr(embedding, "_projection", None) is not None or embedding.max_norm is not None:
        raise ExportError(f"{archive}: embeddings with projection_dim or max_norm are not exported yet")
    return embedding


def _write(folder: Path, network: SentimentNetwork, config: Dict[str, Any], vocabulary, program: bool) -> None:
    from safetensors.torch import save_file

    if any("\n" in word for word in vocabulary):
        raise ExportError("a vocabulary entry contains a line break; vocabulary.txt cannot hold it")
    (folder / "vocabulary.txt").write_text("".join(w + "\n" for w in vocabulary), encoding="utf-8")
    state = {name: tensor.contiguous() for name, tensor in network.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "rrnn_plugin-export"})
    config = dict(config, program="program.pt2" if program else None)
    if program:
        export_program(network, folder / "program.pt2")
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def export_program(network: SentimentNetwork, path: Path, example: Optional[torch.Tensor] = None) -> None:
    """torch.export of the network on token ids, batch and length dynamic."""
    example = example if example is not None else torch.tensor([[2, 3, 4, 0], [2, 5, 0, 0]])
    example = example.clamp(max=network.embedding.num_embeddings - 1)
    from rrnn_plugin.kernels import backend

    if backend.select("auto", [network.embedding.weight], None, network.encoder.semiring, entry="layer_forward") is None:
        raise ExportError("program.pt2 needs the compiled CPU kernel (the PyTorch path's loop cannot be exported "
                          "for any length); rebuild it (make venv) or pass --no-program")
    batch, time = torch.export.Dim("batch", min=1), torch.export.Dim("time", min=1)
    program = torch.export.export(network, (example,), dynamic_shapes={"token_ids": {0: batch, 1: time}})
    torch.export.save(program, str(path))
