"""Paths shared by the tests.  RRNN_FIXTURES is read by the jsonnet fixture configs."""
import os
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
os.environ["RRNN_FIXTURES"] = str(FIXTURES)
