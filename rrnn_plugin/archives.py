"""Loading a model archive as untrusted input, for every command that takes one.

AllenNLP's `load_archive` raises whatever went wrong deep inside it (a FileNotFoundError for a
temporary folder's config.json when the file is not a model archive, an EOFError for a truncated
one, tarfile's filter errors), none naming the archive.  `load_model_archive` gives one line that
does; `rrnn-visualize`, `rrnn-export` and `rrnn-serve` all load through it.  The extraction itself
is bounded (compat.py installs the filter): members whose sizes add up to more than
`MAX_EXTRACTED_BYTES` are refused before they are written, so a small archive cannot fill a disk.
"""
import os
import tarfile
from typing import Dict

# A model of this plugin is a few MB (GloVe) to a few hundred MB (a fine-tuned transformer).
MAX_EXTRACTED_BYTES = int(os.environ.get("RRNN_MAX_ARCHIVE_BYTES", str(8 * 2 ** 30)))


class ArchiveError(ValueError):
    """A model archive that cannot be loaded; the message is one line naming it."""


class ArchiveTooLargeError(tarfile.FilterError):
    def __init__(self, tarinfo: tarfile.TarInfo, total: int) -> None:
        self.tarinfo = tarinfo
        super().__init__(f"{tarinfo.name!r} would bring what the archive extracts to {total / 2 ** 30:.1f} GiB, over "
                         f"the {MAX_EXTRACTED_BYTES / 2 ** 30:.1f} GiB limit (RRNN_MAX_ARCHIVE_BYTES)")


_extracted: Dict[str, int] = {}  # bytes extracted so far into each destination folder


def bounded_data_filter(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
    """Python's `data` filter (no absolute paths, `..`, links or devices out of the destination),
    plus a bound on the total size extracted into one destination."""
    member = tarfile.data_filter(member, dest_path)
    total = _extracted.get(dest_path, 0) + max(member.size, 0)
    if total > MAX_EXTRACTED_BYTES:
        raise ArchiveTooLargeError(member, total)
    _extracted[dest_path] = total
    return member


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def load_model_archive(path: str, **kwargs):
    """AllenNLP's `load_archive(path, cuda_device=-1, **kwargs)`; ArchiveError naming `path` for
    a missing, truncated, foreign or hostile archive."""
    if not os.path.isfile(path):
        raise ArchiveError(f"model archive not found: {path}")
    from allennlp.models.archival import load_archive

    try:
        return load_archive(path, cuda_device=-1, **kwargs)
    except Exception as error:  # AllenNLP raises many kinds here; the user needs the path and the cause
        raise ArchiveError(f"cannot load model archive {path}: {type(error).__name__}: {one_line(error)}") from error
