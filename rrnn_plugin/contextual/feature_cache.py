"""Persistent store of precomputed document features (HDF5 via h5py).

Layout: `<root>/<model-name>-<settings hash>/` holds everything computed with one combination of
settings (model fingerprint, layers, chunking, max length, stored dtype, format version):
`settings.json` (readable copy of those settings) and immutable `part-*.h5` files.  A document's
key inside the folder is the sha256 of its WordPiece ids, so a changed text, tokenizer or
truncation is a different key, and a changed setting is a different folder: nothing stale can be
found.

Why immutable parts: HDF5 files are not safe against a process killed while writing (the file's
metadata can be left inconsistent).  New features are collected in memory and written as a new file
under a temporary name, closed, fsync'ed and only then renamed (atomic) to `part-*.h5`.  A killed
run therefore leaves complete parts (and at worst a stray `*.tmp`, ignored and later deleted); the
features it had not flushed yet are recomputed next time.  Concurrent runs write their own parts, so
they need no lock; a document both computed is stored twice (the oldest part wins on reading).
Each part records the settings hash, width and dtype, and is checked when opened; a part that
cannot be read is skipped with a warning (its documents are recomputed).

Part file datasets: `keys` (S64, hex sha256), `offsets` (int64), `lengths` (int32), `crc32`
(uint32, of each document's stored bytes) and `features` (rows x dim, the stored dtype); a document
is `features[offset : offset + length]`.  Reading verifies each document once per process: its
CRC-32 (parts written before checksums existed: that every value is finite); a document that fails
is logged, dropped from the index and recomputed, never returned.  Before computing anything, the
cache checks that its folder can be written and has room (`check_writable`), so a read-only or full
disk fails before minutes of transformer work, not after.
"""
import atexit
import hashlib
import json
import logging
import os
from pathlib import Path
import re
import secrets
import shutil
import time
import zlib
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple
import weakref

import h5py
import numpy as np

logger = logging.getLogger(__name__)

CACHE_ENV = "RRNN_FEATURE_CACHE"
DTYPES = ("float16", "float32")
_PART = re.compile(r"^part-[0-9a-z-]+\.h5$")
_STALE_TMP_SECONDS = 3600.0


def default_cache_root() -> Path:
    """`$RRNN_FEATURE_CACHE`, else `$XDG_CACHE_HOME/rrnn_plugin/features` (`~/.cache/...`).

    Outside the project on purpose: features depend only on (model content, settings, text), so
    every checkout and worktree of the project can share them, and hundreds of MB stay out of it.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rrnn_plugin" / "features"


def settings_hash(settings: Dict) -> str:
    """sha256 of the canonical JSON form of the settings."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()


def document_key(ids: Sequence[int]) -> str:
    """The key of a document's features within one settings folder: sha256 of its WordPiece ids."""
    return hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes()).hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", name).strip("-")[-40:] or "model"


_OPEN_CACHES: "weakref.WeakSet[FeatureCache]" = weakref.WeakSet()


@atexit.register
def _flush_open_caches() -> None:
    for cache in list(_OPEN_CACHES):
        try:
            cache.flush()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            logger.exception("could not write the last features of %s", cache.folder)


class FeatureCache:
    """Features of documents for one settings combination (see the module docstring).

    `get_many` reads, `put` buffers in memory, `flush` writes the buffer as a new part (it also
    happens every `flush_documents` documents and at interpreter exit).  When a folder has more than
    `max_parts` parts, `flush` merges them into one (`compact`).
    """

    def __init__(
        self,
        root: Optional[os.PathLike],
        settings: Dict,
        dim: int,
        dtype: str = "float16",
        name: str = "model",
        flush_documents: int = 256,
        max_parts: int = 64,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.settings = dict(settings)
        self.hash = settings_hash(self.settings)
        self.root = Path(root).expanduser() if root else default_cache_root()
        self.folder = self.root / f"{_slug(name)}-{self.hash[:20]}"
        self.dim = int(dim)
        self.dtype = np.dtype(dtype)
        self.flush_documents = flush_documents
        self.max_parts = max_parts
        self._files: Dict[str, h5py.File] = {}  # part name -> open file
        self._index: Dict[str, Tuple[str, int, int]] = {}  # key -> (part name, offset, length)
        self._buffer: Dict[str, np.ndarray] = {}
        self._scanned = False
        self._verified: set = set()  # keys whose stored features passed the check in this process
        self._rejected: set = set()  # (part, key) entries that failed it: never read again
        _OPEN_CACHES.add(self)

    # ----- reading -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Open the parts that appeared since the last scan (written by this or another process)."""
        self._scanned = True
        if not self.folder.is_dir():
            return
        names = sorted(p.name for p in self.folder.iterdir() if _PART.match(p.name))
        for name in names:
            if name in self._files:
                continue
            try:
                handle = h5py.File(self.folder / name, "r", locking=False)
                self._check_part(handle)
                keys = handle["keys"][()]
                offsets = handle["offsets"][()]
                lengths = handle["lengths"][()]
            except FileNotFoundError:
                continue  # merged away by a concurrent `compact`
            except Exception as error:  # unreadable: skip it, its documents get recomputed
                logger.warning("%s: skipping unreadable feature part (%s)", self.folder / name, error)
                continue
            self._files[name] = handle
            for key, offset, length in zip(keys, offsets, lengths):
                key = key.decode("ascii")
                if (name, key) not in self._rejected:
                    self._index.setdefault(key, (name, int(offset), int(length)))

    def _check_part(self, handle: h5py.File) -> None:
        if handle.attrs.get("settings_sha256") != self.hash:
            raise ValueError("written with other settings")
        features = handle["features"]
        if features.ndim != 2 or features.shape[1] != self.dim or features.dtype != self.dtype:
            raise ValueError(f"features are {features.shape} {features.dtype}, expected (*, {self.dim}) {self.dtype}")
        if not (len(handle["keys"]) == len(handle["offsets"]) == len(handle["lengths"])):
            raise ValueError("index datasets differ in length")
        if "crc32" in handle and len(handle["crc32"]) != len(handle["keys"]):
            raise ValueError("crc32 and keys differ in length")
        if handle["keys"].dtype.kind != "S":
            raise ValueError(f"keys are {handle['keys'].dtype}, not byte strings")
        offsets, lengths = handle["offsets"][()], handle["lengths"][()]
        if len(offsets) and (offsets.min() < 0 or lengths.min() < 0 or (offsets + lengths).max() > features.shape[0]):
            raise ValueError("an offset or length points outside the stored features")

    def __contains__(self, key: str) -> bool:
        if not self._scanned:
            self.refresh()
        return key in self._buffer or key in self._index

    def __len__(self) -> int:
        if not self._scanned:
            self.refresh()
        return len(self._index.keys() | self._buffer.keys())

    def get_many(self, keys: Iterable[str], refresh_on_miss: bool = True) -> Dict[str, np.ndarray]:
        """The stored features of those `keys` that are known (in the stored dtype)."""
        keys = list(keys)
        if not self._scanned or (refresh_on_miss and any(k not in self._buffer and k not in self._index for k in keys)):
            self.refresh()
        found: Dict[str, np.ndarray] = {}
        for key in keys:
            if key in self._buffer:
                found[key] = self._buffer[key]
            elif key in self._index:
                features = self._read_verified(key)
                if features is not None:
                    found[key] = features
        return found

    def _read_verified(self, key: str) -> Optional[np.ndarray]:
        """A stored document's features, or None (and the entry forgotten) if they are corrupt."""
        name, offset, length = self._index[key]
        handle = self._files[name]
        features = handle["features"][offset : offset + length]
        if key in self._verified:
            return features
        if "crc32" in handle:
            position = int(np.searchsorted(handle["offsets"][()], offset))
            ok = zlib.crc32(np.ascontiguousarray(features).tobytes()) == int(handle["crc32"][position])
            problem = "checksum mismatch"
        else:  # a part written before checksums existed
            ok = bool(np.isfinite(features).all())
            problem = "non-finite values"
        if ok and not np.isfinite(features).all():
            ok, problem = False, "non-finite values"
        if not ok:
            logger.warning("%s: stored features of document %s are corrupt (%s); computing them again",
                           self.folder / name, key[:12], problem)
            self._rejected.add((name, key))
            del self._index[key]
            return None
        self._verified.add(key)
        return features

    # ----- writing -----------------------------------------------------------------------------
    def check_writable(self, documents: int = 0, rows: int = 0) -> None:
        """Fail now, with the reason, if features cannot be stored: the folder cannot be created or
        written, or its disk has less free space than `rows` feature rows (of `documents`) need."""
        try:
            self._ensure_folder()
            probe = self.folder / f".write-test-{os.getpid()}-{secrets.token_hex(4)}.tmp"
            probe.write_bytes(b"x")
            probe.unlink()
        except OSError as error:
            raise OSError(f"feature cache {self.folder} is not writable ({error.strerror or error}); set "
                          f"{CACHE_ENV} to a writable folder") from None
        needed = rows * self.dim * self.dtype.itemsize + documents * 200
        free = shutil.disk_usage(self.folder).free
        if needed and free < needed * 1.1:
            raise OSError(f"feature cache {self.folder}: {needed / 1e6:.0f} MB of features to store but only "
                          f"{free / 1e6:.0f} MB free on its disk; free space or set {CACHE_ENV} elsewhere")

    def put(self, key: str, features: np.ndarray) -> np.ndarray:
        """Store a document's features; returns them as stored (cast to the stored dtype), which is
        exactly what every later read returns."""
        features = np.ascontiguousarray(features, dtype=self.dtype)
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"features must be (length, {self.dim}), got {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError(f"features of document {key[:12]} contain NaN or infinite values (in {self.dtype}): "
                             "refusing to store them")
        self._buffer[key] = features
        if len(self._buffer) >= self.flush_documents:
            self.flush()
        return features

    def flush(self) -> None:
        """Write the buffered documents as a new part (atomically), then merge parts if too many."""
        if not self._buffer:
            return
        self._write_part([(k, len(f)) for k, f in self._buffer.items()], self._buffer.__getitem__)
        self._buffer.clear()
        self.refresh()
        if len(self._files) > self.max_parts:
            self.compact()

    def _ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        info = self.folder / "settings.json"
        if not info.exists():
            tmp = self.folder / f".settings-{os.getpid()}-{secrets.token_hex(4)}.tmp"
            tmp.write_text(json.dumps({"settings_sha256": self.hash, **self.settings}, indent=2, sort_keys=True))
            os.replace(tmp, info)
        now = time.time()
        for stray in self.folder.glob("*.tmp"):  # left by killed runs; a live write takes seconds
            try:
                if now - stray.stat().st_mtime > _STALE_TMP_SECONDS:
                    stray.unlink()
            except FileNotFoundError:
                pass

    def _new_part_name(self) -> str:
        return f"part-{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.h5"

    def _write_part(self, items: Sequence[Tuple[str, int]], fetch: Callable[[str], np.ndarray]) -> str:
        """Write documents `(key, length)`, rows from `fetch(key)` (streamed: one at a time)."""
        self._ensure_folder()
        name = self._new_part_name()
        tmp = self.folder / f".{name}.{secrets.token_hex(4)}.tmp"
        lengths = np.array([length for _, length in items], dtype=np.int32)
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]]).astype(np.int64)
        try:
            with h5py.File(tmp, "w", locking=False) as handle:
                handle.attrs["settings_sha256"] = self.hash
                handle.attrs["settings"] = json.dumps(self.settings, sort_keys=True)
                handle.create_dataset("keys", data=np.array([k.encode("ascii") for k, _ in items], dtype="S64"))
                handle.create_dataset("offsets", data=offsets)
                handle.create_dataset("lengths", data=lengths)
                features = handle.create_dataset("features", shape=(int(lengths.sum()), self.dim), dtype=self.dtype)
                checksums = np.zeros(len(items), dtype=np.uint32)
                for index, ((key, length), offset) in enumerate(zip(items, offsets)):
                    rows = np.ascontiguousarray(fetch(key), dtype=self.dtype)
                    features[offset : offset + length] = rows
                    checksums[index] = zlib.crc32(rows.tobytes())
                handle.create_dataset("crc32", data=checksums)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.folder / name)
        finally:
            if tmp.exists():
                tmp.unlink()
        logger.info("Wrote features of %d documents to %s", len(items), self.folder / name)
        return name

    def compact(self) -> None:
        """Merge every part into one (fewer files to open), then delete the merged parts."""
        self.refresh()
        names = sorted(self._files)
        if len(names) < 2:
            return
        keys = [k for k in sorted(self._index, key=lambda k: (self._index[k][0], self._index[k][1]))
                if self._read_verified(k) is not None]  # a corrupt document is not carried over
        merged = self._write_part(
            [(k, self._index[k][2]) for k in keys], lambda k: self.get_many([k], refresh_on_miss=False)[k]
        )
        for name in names:
            self._files.pop(name).close()
            try:
                (self.folder / name).unlink()
            except FileNotFoundError:
                pass
        self._index = {}
        self.refresh()
        logger.info("Merged %d feature parts into %s", len(names), merged)

    def close(self) -> None:
        """Write what is buffered and close the part files."""
        self.flush()
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        self._index.clear()
        self._scanned = False

    def size_on_disk(self) -> int:
        """Bytes of this settings folder's files."""
        if not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
