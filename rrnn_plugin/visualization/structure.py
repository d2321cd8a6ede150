"""The learned structure of a rational RNN: which states of which WFSAs survive pruning.

`load_structure` reads it from wherever it is: `learned_structure.json` (written by
`rrnn_plugin/training/prune_and_finetune.py` into the serialization directory), a serialization
directory, or a model archive (the `learned_structure.json` next to it or inside it; otherwise
the archive's own encoder, every state kept).  Two JSON schemas are accepted:

* the trainer's (`StructureReport.to_json`): `{"eps", "wfsa_lengths_before", "kept_lengths",
  "state_norms", ...}`, one entry per original WFSA, `kept_lengths[k] = 0` for a removed WFSA;
* a minimal one: `{"eps": 0.1, "wfsas": [{"original_length": n, "kept_length": m,
  "group_norms": [...]}, ...]}` (`group_norms` optional).

`draw_structure` (in `drawing.py`) turns a `Structure` into a picture.
"""
import json
import os
import tarfile
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from rrnn_plugin.training.pruning import STRUCTURE_FILE  # the file prune_and_finetune writes


@dataclass
class WfsaStructure:
    """One WFSA of the original model: how many states it had and how many it keeps."""

    original_length: int
    kept_length: int
    norms: Optional[List[float]] = None  # group norm of each original state

    @property
    def removed(self) -> bool:
        return self.kept_length == 0


@dataclass
class Structure:
    wfsas: List[WfsaStructure]  # in original order
    eps: Optional[float] = None
    source: str = ""

    @property
    def pruned(self) -> bool:
        return any(w.kept_length < w.original_length for w in self.wfsas)

    @property
    def kept_wfsas(self) -> List[int]:
        """Original index of each WFSA of the pruned model, in order."""
        return [k for k, w in enumerate(self.wfsas) if w.kept_length > 0]

    @property
    def lengths_after(self) -> List[int]:
        return [w.kept_length for w in self.wfsas if w.kept_length > 0]

    @property
    def transitions_before(self) -> int:
        return sum(w.original_length for w in self.wfsas)

    @property
    def transitions_after(self) -> int:
        return sum(w.kept_length for w in self.wfsas)


def structure_from_json(data: Dict[str, Any], source: str = "") -> Structure:
    """A `Structure` from either accepted schema (see the module docstring); ValueError naming
    `source` for anything else."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: not a learned structure (a JSON {type(data).__name__}, expected an object)")
    try:
        return _structure_from_dict(data, source)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith(f"{source}:"):
            raise
        raise ValueError(f"{source}: malformed learned structure ({type(error).__name__}: {error})") from None


def _structure_from_dict(data: Dict[str, Any], source: str) -> Structure:
    eps = data.get("eps")
    if "wfsas" in data:
        wfsas = [
            WfsaStructure(int(w["original_length"]), int(w["kept_length"]), _floats(w.get("group_norms")))
            for w in data["wfsas"]
        ]
    elif "kept_lengths" in data:
        kept = [int(m) for m in data["kept_lengths"]]
        before = [int(n) for n in data.get("wfsa_lengths_before", kept)]
        norms = data.get("state_norms") or [None] * len(kept)
        if not len(before) == len(kept) == len(norms):
            raise ValueError(
                f"{source}: wfsa_lengths_before, kept_lengths and state_norms differ in length"
            )
        wfsas = [WfsaStructure(n, m, _floats(s)) for n, m, s in zip(before, kept, norms)]
    elif "encoders" in data:  # written for a stacked, bidirectional or Seq2Seq model
        layers = [f"{e['encoder']} layer {l['layer']} {l['direction']}" for e in data["encoders"] for l in e["layers"]]
        raise ValueError(
            f"{source}: the drawing shows one layer of one direction; this structure has {len(layers)} "
            f"({', '.join(layers)}): see its `encoders` key for each one's kept lengths"
        )
    else:
        raise ValueError(f"{source}: not a learned structure (expected a 'wfsas' or 'kept_lengths' key)")
    for k, w in enumerate(wfsas):
        if not 0 <= w.kept_length <= w.original_length:
            raise ValueError(f"{source}: WFSA {k} keeps {w.kept_length} of {w.original_length} states")
    return Structure(wfsas, None if eps is None else float(eps), source)


def structure_from_lengths(lengths: List[int], norms: Optional[List[List[float]]] = None,
                           source: str = "") -> Structure:
    """An unpruned structure: every state of every WFSA kept."""
    norms = norms or [None] * len(lengths)
    return Structure([WfsaStructure(n, n, s) for n, s in zip(lengths, norms)], None, source)


def find_structure_file(path: str) -> Optional[str]:
    """`learned_structure.json` for a JSON file, a serialization dir or an archive path, if any."""
    if os.path.isfile(path) and path.endswith(".json"):
        return path
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    candidate = os.path.join(folder, STRUCTURE_FILE)
    return candidate if os.path.isfile(candidate) else None


def read_structure_file(path: str) -> Structure:
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}); expected a "
                             "learned_structure.json written by structure learning") from None
    return structure_from_json(data, path)


def structure_in_archive(archive_path: str) -> Optional[Structure]:
    """A `learned_structure.json` stored inside a model archive, if there is one."""
    if not (os.path.isfile(archive_path) and tarfile.is_tarfile(archive_path)):
        return None
    with tarfile.open(archive_path) as archive:
        for member in archive.getmembers():
            if os.path.basename(member.name) == STRUCTURE_FILE and member.isfile():
                try:
                    data = json.load(archive.extractfile(member))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{archive_path}:{member.name}, line {error.lineno}: not valid JSON "
                                     f"({error.msg})") from None
                return structure_from_json(data, f"{archive_path}:{member.name}")
    return None


def matches_lengths(structure: Structure, lengths: List[int]) -> bool:
    """Whether a learned structure describes a model with these WFSA lengths (pruned or not)."""
    before = [w.original_length for w in structure.wfsas]
    return structure.lengths_after == list(lengths) or before == list(lengths)


def _floats(values) -> Optional[List[float]]:
    return None if values is None else [float(v) for v in values]
