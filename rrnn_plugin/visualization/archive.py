"""Loading a model archive and its data for visualization, with one-line errors.

The subcommands report a wrong archive or data path as one line naming the path (a
`VisualizationError`), not as a traceback from deep inside AllenNLP.
"""
import itertools
import logging
import os
from typing import List, Optional, Tuple

from allennlp.data import DatasetReader, Instance
from allennlp.models import Model

from rrnn_plugin.archives import ArchiveError, load_model_archive, one_line
from rrnn_plugin.visualization.structure import (
    STRUCTURE_FILE,
    Structure,
    find_structure_file,
    matches_lengths,
    read_structure_file,
    structure_from_lengths,
    structure_in_archive,
)

logger = logging.getLogger(__name__)


class VisualizationError(Exception):
    """A user-facing problem (missing file, unreadable data); the message is one line."""


def load_model(archive_path: str) -> Tuple[Model, DatasetReader]:
    """The archived model (CPU, eval mode) and the reader to read data for it."""
    try:
        archive = load_model_archive(archive_path)
    except ArchiveError as error:
        raise VisualizationError(str(error)) from error
    archive.model.eval()
    return archive.model, archive.validation_dataset_reader


def read_documents(
    reader: DatasetReader, data_path: str, max_documents: Optional[int] = None
) -> List[Instance]:
    """The first `max_documents` (default: all) instances the archive's reader makes of `data_path`."""
    try:
        instances = list(itertools.islice(reader.read(data_path), max_documents))
    except Exception as error:
        raise VisualizationError(f"cannot read data {data_path}: {one_line(error)}") from error
    for instance in instances:
        reader.apply_token_indexers(instance)
    if not instances:
        raise VisualizationError(f"no documents in {data_path}")
    return instances


def learned_structure_for(archive_path: str, wfsa_lengths: List[int]) -> Optional[Structure]:
    """The learned structure belonging to an archive (inside it, or `learned_structure.json` next
    to it), if there is one that fits the archived model's WFSA lengths."""
    try:
        structure = structure_in_archive(archive_path)
        if structure is None:
            found = find_structure_file(archive_path) if not archive_path.endswith(".json") else None
            structure = read_structure_file(found) if found else None
    except (OSError, ValueError) as error:
        logger.warning("ignoring the learned structure of %s: %s", archive_path, one_line(error))
        return None
    if structure is not None and not matches_lengths(structure, wfsa_lengths):
        logger.warning(
            "%s does not describe this model's WFSAs %s; ignored", structure.source, wfsa_lengths
        )
        return None
    return structure


def load_structure(source: str) -> Structure:
    """The structure of `source`: a learned_structure.json, a serialization dir or an archive."""
    if not os.path.exists(source):
        raise FileNotFoundError(f"{source}: no such file or folder")
    found = find_structure_file(source)
    if found is not None:
        return read_structure_file(found)
    archive = source
    if os.path.isdir(source):
        archive = os.path.join(source, "model.tar.gz")
        if not os.path.isfile(archive):
            raise FileNotFoundError(f"{source}: folder has neither {STRUCTURE_FILE} nor model.tar.gz")
    inside = structure_in_archive(archive)
    if inside is not None:
        return inside
    model, _ = load_model(archive)
    from rrnn_plugin.visualization.phrases import find_encoder

    encoder = find_encoder(model)
    return structure_from_lengths(encoder.wfsa_lengths, encoder.state_norms(), archive)
