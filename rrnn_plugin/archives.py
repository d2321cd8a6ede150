"""Loading a model archive as untrusted input, for every command that takes one.

AllenNLP's `load_archive` raises whatever went wrong deep inside it (a FileNotFoundError for a
temporary folder's config.json when the file is not a model archive, an EOFError for a truncated
one, tarfile's filter errors), none naming the archive.  `load_model_archive` gives one line that
does; `rrnn-visualize`, `rrnn-export` and `rrnn-serve` all load through it.  The extraction itself
is bounded (compat.py installs the filter and the extraction): an archive whose members add up to
more than `MAX_EXTRACTED_BYTES` is refused before anything is written, so a small archive cannot
fill a disk, and a failed extraction leaves nothing behind.
"""
import contextlib
import os
import shutil
import tarfile
import tempfile
from typing import Dict, Iterator

# A model of this plugin is a few MB (GloVe) to a few hundred MB (a fine-tuned transformer).
MAX_EXTRACTED_BYTES = int(os.environ.get("RRNN_MAX_ARCHIVE_BYTES", str(8 * 2 ** 30)))


class ArchiveError(ValueError):
    """A model archive that cannot be loaded; the message is one line naming it."""


def _size(count: int) -> str:
    return f"{count / 2 ** 30:.1f} GiB" if count >= 2 ** 30 else f"{count:,} bytes"


class ArchiveTooLargeError(tarfile.FilterError):
    def __init__(self, tarinfo: tarfile.TarInfo, total: int) -> None:
        self.tarinfo = tarinfo
        super().__init__(f"{tarinfo.name!r} would bring what the archive extracts to {_size(total)}, over the "
                         f"{_size(MAX_EXTRACTED_BYTES)} limit (RRNN_MAX_ARCHIVE_BYTES)")


def check_extracted_size(path: str) -> None:
    """ArchiveTooLargeError, before anything is written, when the members' sizes (from their
    headers, read as the stream passes) add up to more than MAX_EXTRACTED_BYTES; it stops at the
    member that crosses the bound, so a bomb is not decompressed to its end."""
    total = 0
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            total += max(member.size, 0)
            if total > MAX_EXTRACTED_BYTES:
                raise ArchiveTooLargeError(member, total)


@contextlib.contextmanager
def bounded_extracted_archive(resolved_archive_file: str, cleanup: bool = True) -> Iterator[str]:
    """AllenNLP's `extracted_archive` (installed in its place by compat.py), which also checks the
    size first, and removes the temporary folder when extraction fails (AllenNLP's left whatever
    was written before the failure in /tmp)."""
    check_extracted_size(resolved_archive_file)
    tempdir = tempfile.mkdtemp()
    try:
        with tarfile.open(resolved_archive_file, "r:gz") as archive:
            archive.extractall(tempdir)
    except BaseException:
        shutil.rmtree(tempdir, ignore_errors=True)
        raise
    try:
        yield tempdir
    finally:
        if cleanup:
            shutil.rmtree(tempdir, ignore_errors=True)


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
    if "://" not in str(path) and not os.path.exists(path):  # a folder (an unpacked run) or a URL is fine
        raise ArchiveError(f"model archive not found: {path}")
    from allennlp.models.archival import load_archive

    try:
        return load_archive(path, cuda_device=-1, **kwargs)
    except Exception as error:  # AllenNLP raises many kinds here; the user needs the path and the cause
        raise ArchiveError(f"cannot load model archive {path}: {type(error).__name__}: {one_line(error)}") from error


def archive_intact(serialization_dir: str) -> bool:
    """Whether a run's model.tar.gz is complete enough to load (AllenNLP writes it in place,
    after metrics.json, so a run stopped in between has none or a cut one)."""
    try:
        with tarfile.open(os.path.join(serialization_dir, "model.tar.gz")) as archive:
            names = set(archive.getnames())
    except (OSError, tarfile.TarError, EOFError):
        return False
    return {"config.json", "weights.th"} <= names
