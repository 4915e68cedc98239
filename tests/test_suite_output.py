"""What a test run prints beyond pytest's own lines (tests/conftest.py)."""

import subprocess
import sys

from helpers import ROOT


def test_a_run_ends_with_the_skipped_tests_and_why():
    # test_docs.py has slow tests, which a run without --run-slow skips
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "0",
         "-q", "tests/test_docs.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    last = proc.stdout.rstrip().splitlines()[-1]
    count = last.split(" skipped:", 1)[0]
    assert count.isdigit() and int(count) > 0, last
    # only slow tests skip here, so one reason carries the whole count
    assert last == f"{count} skipped: {count} slow: runs with --run-slow, as CI does", last
