"""Runs ``python -m examples.mnist ARGS`` that stops dead after checkpoint STEP is saved.

``python tests/_mnist_kill_script.py STEP ARGS...``: once the checkpoint of step STEP is
complete, prints ``SAVED STEP`` and sleeps, so that the test can SIGKILL the process at a
known point (as a preempted host dies), without racing a run that might already be over.
"""

import sys
import time

from examples import checkpoint
from examples.mnist import cli

STOP = int(sys.argv[1])
_save = checkpoint.Checkpoints.save


def save(self, step, state, meta):
    _save(self, step, state, meta)
    if step == STOP:
        self.manager.wait_until_finished()
        print(f"SAVED {step}", flush=True)
        time.sleep(600)


checkpoint.Checkpoints.save = save
raise SystemExit(cli.main(sys.argv[2:]))
