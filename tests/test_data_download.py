"""`make data` (rrnn_plugin/data_download.py) against a local HTTP server on 127.0.0.1 serving an
archive the test builds from the fixture reviews: checksums pass, a mismatch keeps nothing, an
interrupted download leaves no half file, no network gives the offline instructions."""
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from rrnn_plugin.data_download import DataError, content_sha256, fetch

FIXTURES = Path(os.environ["RRNN_FIXTURES"]) / "blitzer"
NAMES = [f"{d}/{l}.review" for d in ("books", "kitchen") for l in ("negative", "positive")]


def build_archive(tamper: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in NAMES + ["kitchen/unlabeled.review"]:
            source = FIXTURES / (name if "unlabeled" not in name else "kitchen/positive.review")
            data = source.read_bytes()
            if tamper and name == "kitchen/negative.review":
                data = data.replace(b"broke", b"works")
            info = tarfile.TarInfo(f"sorted_data_acl/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


DIGESTS = {name: content_sha256((FIXTURES / name).read_bytes()) for name in NAMES}


class Server:
    """Serves `body` at any path; `cut` bytes are announced but never sent (an interrupted download)."""

    def __init__(self, body: bytes, cut: int = 0) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.body) + outer.cut))
                self.end_headers()
                self.wfile.write(outer.body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.body, self.cut = body, cut
        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/domain_sentiment_data.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def serve():
    servers = []

    def start(body, cut=0):
        servers.append(Server(body, cut))
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


def test_download_extracts_and_verifies(tmp_path, serve):
    dest = tmp_path / "blitzer"
    fetch(str(dest), url=serve(build_archive()), digests=DIGESTS)
    for name in NAMES:
        assert (dest / name).read_bytes() == (FIXTURES / name).read_bytes()
    assert not (dest / "kitchen" / "unlabeled.review").exists()  # only the balanced sets
    assert sorted(p.name for p in dest.iterdir()) == ["books", "kitchen"]  # no temporary files left
    mtime = (dest / NAMES[0]).stat().st_mtime_ns
    fetch(str(dest), url="http://127.0.0.1:9/unused", digests=DIGESTS)  # verified: nothing downloaded
    assert (dest / NAMES[0]).stat().st_mtime_ns == mtime


def test_a_checksum_mismatch_keeps_nothing(tmp_path, serve):
    dest = tmp_path / "blitzer"
    with pytest.raises(DataError, match="kitchen/negative.review has SHA-256 .* expected"):
        fetch(str(dest), url=serve(build_archive(tamper=True)), digests=DIGESTS)
    assert [p for p in dest.rglob("*") if p.is_file()] == []


def test_an_interrupted_download_leaves_no_half_file(tmp_path, serve):
    dest = tmp_path / "blitzer"
    with pytest.raises(DataError, match="stopped after|could not download"):
        fetch(str(dest), url=serve(build_archive(), cut=5000), digests=DIGESTS)
    assert [p for p in dest.rglob("*")] == []  # no .part, no temporary folder, no review file


def test_without_network_the_error_says_what_to_do(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="RRNN_DATA_ARCHIVE=/path/to/domain_sentiment_data.tar.gz make data"):
        fetch(str(tmp_path / "blitzer"), url=f"http://127.0.0.1:{port}/x.tar.gz", digests=DIGESTS)


def test_an_archive_on_disk_works_offline(tmp_path):
    archive = tmp_path / "domain_sentiment_data.tar.gz"
    archive.write_bytes(build_archive())
    fetch(str(tmp_path / "blitzer"), archive=str(archive), digests=DIGESTS)
    assert (tmp_path / "blitzer" / "books" / "positive.review").is_file()
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(build_archive()[:200])
    with pytest.raises(DataError, match="not a readable"):
        fetch(str(tmp_path / "other"), archive=str(broken), digests=DIGESTS)


def test_a_member_far_larger_than_a_review_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """The review files are read into memory to be checked: a small archive with a huge member
    reached 1 GB of memory before its checksum failed."""
    from rrnn_plugin import data_download

    monkeypatch.setattr(data_download, "MAX_REVIEW_FILE_BYTES", 1000)  # the fixture files are larger
    archive = tmp_path / "domain_sentiment_data.tar.gz"
    archive.write_bytes(build_archive())
    with pytest.raises(DataError, match=r"bytes, far more than a review file"):
        fetch(str(tmp_path / "blitzer"), archive=str(archive), digests=DIGESTS)
    assert not (tmp_path / "blitzer").exists() or [p for p in (tmp_path / "blitzer").rglob("*") if p.is_file()] == []
