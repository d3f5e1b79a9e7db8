"""docs/support.md is generated from real calls: it must match what the code does now."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "docs", "scripts", "support_table.py")


def test_support_table_is_current():
    proc = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_support_table_records_accepted_and_refused_calls(tmp_path):
    out = tmp_path / "support.md"
    proc = subprocess.run([sys.executable, SCRIPT, "--output", str(out)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `conv2d` |"))
    assert row.count("yes") >= 8  # conv2d takes every geometry form
    assert "gives float64" in text  # integer inputs are promoted, and the table says so
    assert "## Errors" in text and "1. " in text
