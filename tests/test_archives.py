"""rrnn_plugin/archives.py: a model archive that cannot be loaded is named in one line, by every
command that takes one, and no archive extracts more than the size bound."""
import io
import subprocess
import sys
import tarfile

import pytest

import rrnn_plugin  # noqa: F401  (installs the bounded extraction filter)
from rrnn_plugin import archives
from rrnn_plugin.archives import ArchiveError, ArchiveTooLargeError, load_model_archive


def _tar(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def broken_archives(tmp_path):
    foreign = _tar(tmp_path / "foreign.tar.gz", [("notes.txt", b"not a model")])
    whole = (tmp_path / "foreign.tar.gz").read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    text = tmp_path / "text.tar.gz"
    text.write_text("hello")
    return {"foreign": foreign, "truncated": truncated, "text": text, "missing": tmp_path / "missing.tar.gz"}


@pytest.mark.parametrize("kind", ["foreign", "truncated", "text", "missing"])
def test_an_unloadable_archive_is_named_in_one_line(broken_archives, kind):
    with pytest.raises(ArchiveError) as error:
        load_model_archive(str(broken_archives[kind]))
    message = str(error.value)
    assert str(broken_archives[kind]) in message and "\n" not in message


def test_a_refused_archive_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(archives, "MAX_EXTRACTED_BYTES", 1000)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = _tar(tmp_path / "bomb.tar.gz", [("config.json", b"{}"), ("a.bin", b"\0" * 600), ("b.bin", b"\0" * 600)])
    with pytest.raises(ArchiveError, match="'b.bin' would bring .* 1,202 bytes, over the 1,000 bytes limit"):
        load_model_archive(str(path))
    assert list(scratch.iterdir()) == []


def test_an_unpacked_run_folder_is_not_refused_as_missing(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(ArchiveError) as error:
        load_model_archive(str(tmp_path / "run"))  # AllenNLP reads a folder; this one has no model
    assert "model archive not found" not in str(error.value) and "cannot load model archive" in str(error.value)


def test_extraction_stops_at_the_size_bound_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_EXTRACTED_BYTES", 1000)
    path = _tar(tmp_path / "big.tar.gz", [("a.bin", b"\0" * 600), ("b.bin", b"\0" * 600)])
    target = tmp_path / "out"
    with tarfile.open(path) as archive, pytest.raises(ArchiveTooLargeError, match="'b.bin'.*RRNN_MAX_ARCHIVE_BYTES"):
        archive.extractall(target)
    assert sorted(p.name for p in target.iterdir()) == ["a.bin"]  # b.bin was refused before it was written


@pytest.mark.parametrize("command", [["rrnn-export", "-o", "{tmp}/export"], ["rrnn-serve", "--port", "0"],
                                     ["rrnn-visualize", "{tmp}/data.tsv"]])
def test_the_commands_name_the_archive(broken_archives, tmp_path, command):
    archive = str(broken_archives["foreign"])
    args = [a.format(tmp=tmp_path) for a in command]
    done = subprocess.run([sys.executable, "-m", "allennlp", args[0], archive, *args[1:], "--include-package",
                           "rrnn_plugin"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert f"cannot load model archive {archive}" in last and "Traceback" not in done.stderr
