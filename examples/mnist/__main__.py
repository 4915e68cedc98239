"""Entry point: ``python -m examples.mnist [train|compare|sweep] [flags]``; see ``--help``."""

from examples.mnist.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
