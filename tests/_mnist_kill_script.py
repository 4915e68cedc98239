"""Runs ``python -m examples.mnist ARGS`` that stops dead after checkpoint STEP is saved.

``python tests/_mnist_kill_script.py STEP ARGS...``: once the checkpoint of step STEP is
complete, prints ``SAVED STEP`` and sleeps, so that the test can SIGKILL the process at a
known point (as a preempted host dies), without racing a run that might already be over.
"""

import sys
import time


def main(stop: int, argv: list[str]) -> int:
    from examples import checkpoint
    from examples.mnist import cli

    save = checkpoint.Checkpoints.save

    def save_then_stop(self, step, state, meta):
        save(self, step, state, meta)
        if step == stop:
            self.manager.wait_until_finished()
            print(f"SAVED {step}", flush=True)
            time.sleep(600)

    checkpoint.Checkpoints.save = save_then_stop
    return cli.main(argv)


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]), sys.argv[2:]))
