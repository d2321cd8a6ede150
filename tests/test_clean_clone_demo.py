"""`make data && make demo` as a new user runs them: a clone with no ../shared beside it downloads
the reviews (here from a loopback server serving an archive built from the real data, so the
recorded SHA-256 digests apply) and trains, evaluates and predicts.  Skipped where the real data is
not available to build that archive."""
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from rrnn_plugin.data_download import DOMAINS, LABELS
from tests.test_data_download import Server

ROOT = Path(__file__).parents[1]
REAL = Path(os.environ.get("RRNN_DATA_DIR") or ROOT.parent / "shared" / "data" / "blitzer")
pytestmark = pytest.mark.skipif(not all((REAL / d / f"{l}.review").is_file() for d in DOMAINS for l in LABELS),
                                reason=f"the real Blitzer data (to build the served archive) is not at {REAL}")


def real_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for domain in DOMAINS:
            for label in LABELS:
                tar.add(REAL / domain / f"{label}.review", arcname=f"sorted_data_acl/{domain}/{label}.review")
    return buffer.getvalue()


def test_make_data_and_make_demo_in_a_clone_without_shared_data(tmp_path):
    server = Server(real_archive())
    try:
        clone = tmp_path / "rrnn_plugin"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        assert not (clone.parent / "shared").exists()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RRNN_")}
        env["RRNN_DATA_URL"] = server.url
        venv = ROOT / ".venv"  # the installed environment (installing again would take minutes)
        done = subprocess.run(["make", "-C", str(clone), "data", "demo", f"VENV={venv}", "-o", str(venv / ".rrnn-installed")],
                              env=env, capture_output=True, text=True, timeout=1800)
    finally:
        server.close()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the shared environment still runs this checkout (a sub-make once reinstalled the clone into it)
    installed = subprocess.run([str(venv / "bin" / "python"), "-c", "import rrnn_plugin; print(rrnn_plugin.__file__)"],
                               cwd="/", capture_output=True, text=True, check=True).stdout.strip()
    assert Path(installed).resolve().parents[1] == ROOT.resolve(), installed
    assert "8 review files extracted and verified" in done.stdout
    assert (clone / "data" / "blitzer" / "kitchen" / "positive.review").is_file()
    assert "test accuracy" in done.stdout and (clone / "runs" / "demo-kitchen" / "model.tar.gz").is_file()
    assert '"label"' in (clone / "runs" / "demo-kitchen" / "predictions.jsonl").read_text()
