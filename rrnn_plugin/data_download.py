"""`make data`: download the Blitzer et al. (2007) reviews and check them, for a user without our copy.

    python -m rrnn_plugin.data_download [--dest data/blitzer] [--url URL | --archive FILE]

Downloads the multi-domain sentiment archive from the dataset's home page (`DATA_URL`; override
with --url or RRNN_DATA_URL), or takes an archive already on disk (--archive, RRNN_DATA_ARCHIVE),
and extracts only the balanced sets this project reads, `<domain>/positive.review` and
`negative.review` of books, dvd, electronics and kitchen, into DEST.  Every file's SHA-256 is
checked against `SHA256`, the digests of the copy these results were computed on; a file that
differs is not kept.  (That copy wraps each file in an added `<reviews>` root element; the digests
are of the content inside it, which is the original file, so both forms verify.)

Safety: the download goes to `<archive>.part` and is renamed only when complete (a length that
does not match the server's Content-Length is an interrupted download: the part file is deleted);
archive members are read, never extracted by path, so nothing can land outside DEST; each file is
written under a temporary name and renamed after its check.
"""
import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Dict, Optional

HOME_PAGE = "https://www.cs.jhu.edu/~mdredze/datasets/sentiment/"
DATA_URL = HOME_PAGE + "domain_sentiment_data.tar.gz"
DOMAINS = ("books", "dvd", "electronics", "kitchen")
LABELS = ("negative", "positive")
SHA256: Dict[str, str] = {
    "books/negative.review": "562c58de7f739c9af2d62377ea2253ff73e89f69c84a332088f341cdb0e09660",
    "books/positive.review": "72c39d63dfd7edf77895de7c796f67e095f847f4b56bca0704aba3bbf57f23b9",
    "dvd/negative.review": "de1b539d29dc7edfbabf0ca4b1bce4e296d486533f3730012e4b49e36e762fa3",
    "dvd/positive.review": "fcf5207f79aa8af4910b5793c15fe90f25eb39501f9f4bdbd8f60a817224e28d",
    "electronics/negative.review": "571287120d63e289753231804f33169b2ec4348ca6d24fa0d781a3a08e6376ff",
    "electronics/positive.review": "98daefad1056ec8d98fe910bdb50ae282695b9c2b89c2bc1513b9d2203b38a11",
    "kitchen/negative.review": "0ad1fa1f4539b47933fcef01be674b1246d1dc01403197c1439004cbaf4b543e",
    "kitchen/positive.review": "90ebec2b5a6ac040e16836c32b8efbd92ce98804b916c6367f7ade3b8d536798",
}
_ROOT_OPEN, _ROOT_CLOSE = b"<reviews>\n", b"</reviews>\n"


class DataError(RuntimeError):
    pass


def content_sha256(data: bytes) -> str:
    """SHA-256 of a .review file's content, without the optional added `<reviews>` root (its
    closing tag with or without a final newline)."""
    if data.startswith(_ROOT_OPEN):
        data = data[len(_ROOT_OPEN):]
        for close in (_ROOT_CLOSE, _ROOT_CLOSE.rstrip(b"\n")):
            if data.endswith(close):
                data = data[: -len(close)]
                break
    return hashlib.sha256(data).hexdigest()


def verified(dest: Path, digests: Dict[str, str]) -> bool:
    return all((dest / name).is_file() and content_sha256((dest / name).read_bytes()) == digest
               for name, digest in digests.items())


def download(url: str, target: Path, timeout: float = 60.0) -> Path:
    """Fetch `url` to `target` through `target.part`; nothing is left behind on failure."""
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            expected = response.headers.get("Content-Length")
            shutil.copyfileobj(response, out, 1 << 20)
        if expected is not None and part.stat().st_size != int(expected):
            raise DataError(f"{url}: the download stopped after {part.stat().st_size} of {expected} bytes")
        os.replace(part, target)
        return target
    except (OSError, ValueError) as error:
        raise DataError(
            f"could not download {url} ({error}).  Without network: download the archive from {HOME_PAGE} "
            f"elsewhere and run `RRNN_DATA_ARCHIVE=/path/to/{Path(DATA_URL).name} make data`, or put the "
            f"files <domain>/positive.review and negative.review ({', '.join(DOMAINS)}) under {target.parent.parent}"
        ) from error
    finally:
        if part.exists():
            part.unlink()


MAX_REVIEW_FILE_BYTES = 64 * 2 ** 20  # the largest balanced review file is ~3 MB


def extract(archive: Path, dest: Path, digests: Dict[str, str]) -> None:
    """Copy the balanced review files out of `archive` into `dest`, each checked before it is kept."""
    wanted = set(digests)
    found: Dict[str, bytes] = {}
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                name = "/".join(parts[-2:]) if len(parts) >= 2 else ""
                if name in wanted and member.isfile():
                    if member.size > MAX_REVIEW_FILE_BYTES:  # read into memory: a bomb must not get there
                        raise DataError(f"{archive}: {member.name} is {member.size:,} bytes, far more than a "
                                        "review file (a few MB): not the multi-domain sentiment archive")
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"{archive}: not a readable .tar.gz archive ({error})") from error
    missing = sorted(wanted - set(found))
    if missing:
        raise DataError(f"{archive}: has no {', '.join(missing)}; is it the multi-domain sentiment archive?")
    for name in sorted(found):
        actual = content_sha256(found[name])
        if actual != digests[name]:
            raise DataError(f"{archive}: {name} has SHA-256 {actual}, expected {digests[name]}: not the data "
                            "these results were computed on (a different or damaged archive)")
    for name, data in found.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)


def fetch(dest: str, url: Optional[str] = None, archive: Optional[str] = None,
          digests: Dict[str, str] = SHA256) -> Path:
    """Make `dest` hold the verified review files; return it."""
    dest_path = Path(dest)
    if verified(dest_path, digests):
        print(f"{dest_path}: the {len(digests)} review files are there and verified")
        return dest_path
    dest_path.mkdir(parents=True, exist_ok=True)
    if archive:
        extract(Path(archive), dest_path, digests)
    else:
        with tempfile.TemporaryDirectory(dir=dest_path, prefix=".download-") as work:
            target = Path(work) / Path(url or DATA_URL).name
            extract(download(url or DATA_URL, target), dest_path, digests)
    print(f"{dest_path}: {len(digests)} review files extracted and verified")
    return dest_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=os.environ.get("RRNN_DATA_DIR") or "data/blitzer")
    parser.add_argument("--url", default=os.environ.get("RRNN_DATA_URL") or None)
    parser.add_argument("--archive", default=os.environ.get("RRNN_DATA_ARCHIVE") or None)
    args = parser.parse_args(argv)
    try:
        fetch(args.dest, args.url, args.archive)
    except DataError as error:
        print(f"make data: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
