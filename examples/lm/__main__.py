"""Entry point: ``python -m examples.lm [flags]``; see ``--help``.

``--cpu-devices`` must act before JAX starts, so it is read here, ahead of every import of
jax: on a CPU-only host it forces that many host devices (XLA's
``--xla_force_host_platform_device_count``), which is how a 2 x 2 mesh runs on a laptop.
"""

import os
import sys


def _force_cpu_devices(argv: list[str]) -> None:
    count = None
    for i, arg in enumerate(argv):
        if arg == "--cpu-devices" and i + 1 < len(argv):
            count = argv[i + 1]
        elif arg.startswith("--cpu-devices="):
            count = arg.split("=", 1)[1]
    count = "4" if count is None else count
    if count.isdigit() and int(count) > 0 and "xla_force_host_platform_device_count" not in (
        os.environ.get("XLA_FLAGS", "")
    ):
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


if __name__ == "__main__":
    _force_cpu_devices(sys.argv[1:])
    from examples.lm.train import main

    raise SystemExit(main())
