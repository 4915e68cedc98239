"""Multi-process JAX for the examples: flags, ``jax.distributed`` start-up, global batches.

JAX runs one process per host; after ``jax.distributed.initialize`` every process sees
the global device list, a ``Mesh`` over it spans all hosts, and a jitted step on arrays
sharded over that mesh is one SPMD program: the collectives (the loss's global mean, the
gradient all-reduce) cross processes without any change in the loss code.

What a trainer needs, and this module gives (the MNIST trainer uses all of it, and any
other trainer can adopt it as is):

- ``add_flags(parser)`` and ``initialize_from_args(args, parser)``: ``--coordinator
  HOST:PORT``, ``--num-processes N``, ``--process-id K``, ``--initialization-timeout S``.
  With none of the first three, ``jax.distributed.initialize()`` is called only when JAX
  detects a cluster by itself (Cloud TPU pod, SLURM, Open MPI, a Kubernetes Indexed
  Job); otherwise the run is single-process, as without this module.
- ``process_rows`` and ``global_batch``: each process materialises only the rows of a
  global batch that its own devices hold, and ``jax.make_array_from_process_local_data``
  assembles the global array.
- ``is_main_process()``: only process 0 prints progress and writes files.

Call ``initialize_from_args`` before anything else touches JAX's backends
(``jax.devices()``, creating an array): JAX requires it.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable

import numpy as np

DEFAULT_INITIALIZATION_TIMEOUT = 300  # seconds; jax.distributed.initialize's own default
# Exit status when start-up times out: the process is stuck inside JAX's C++ client, so
# the watchdog reports and ends it (JAX itself would abort with a stack trace).
TIMEOUT_EXIT_STATUS = 3
# JAX's own deadline is set this much later than ours, so ours always fires first.
_JAX_DEADLINE_MARGIN = 30


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Adds the multi-process flags to ``parser`` (in a group of their own)."""
    g = parser.add_argument_group(
        "multi-process (one process per host; docs/guides/distributed.md, 'Scaling out')"
    )
    g.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        default=None,
        help="address of process 0's coordination service, the same for every process. "
        "Give it with --num-processes and --process-id; without the three, "
        "jax.distributed.initialize() is called only on a cluster JAX detects by itself "
        "(Cloud TPU pod, SLURM, Open MPI, Kubernetes Indexed Job), otherwise the run is "
        "single-process",
    )
    g.add_argument(
        "--num-processes", type=int, default=None, metavar="N", help="number of processes"
    )
    g.add_argument(
        "--process-id", type=int, default=None, metavar="K", help="this process, in [0, N)"
    )
    g.add_argument(
        "--initialization-timeout",
        type=int,
        default=DEFAULT_INITIALIZATION_TIMEOUT,
        metavar="SECONDS",
        help="fail with a clear error if the processes have not all joined within this time",
    )


def check_flags(
    coordinator: str | None, num_processes: int | None, process_id: int | None, timeout: int
) -> bool:
    """Validates the flags; returns True when they ask for a multi-process run.

    Raises:
      ValueError: only some of the three flags are given, ``--coordinator`` is not
        ``HOST:PORT``, ``--num-processes`` < 1, ``--process-id`` outside ``[0, N)``, or
        the timeout < 1. The message names the flag, the value and the rule.
    """
    given = {
        "--coordinator": coordinator,
        "--num-processes": num_processes,
        "--process-id": process_id,
    }
    if timeout < 1:
        raise ValueError(f"--initialization-timeout must be >= 1 second, got {timeout}.")
    if all(v is None for v in given.values()):
        return False
    missing = [flag for flag, v in given.items() if v is None]
    if missing:
        raise ValueError(
            "--coordinator, --num-processes and --process-id go together (or none of them, "
            f"to let JAX detect a cluster); missing {', '.join(missing)}."
        )
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"--coordinator must be HOST:PORT with a port in 1..65535 (process 0's host), "
            f"got {coordinator!r}."
        )
    if num_processes < 1:
        raise ValueError(f"--num-processes must be >= 1, got {num_processes}.")
    if not 0 <= process_id < num_processes:
        raise ValueError(
            f"--process-id must be in [0, {num_processes}) for --num-processes "
            f"{num_processes}, got {process_id}."
        )
    return True


def detected_cluster() -> str | None:
    """The cluster JAX would initialise from by itself, or None.

    JAX has no public query for this; ``jax.distributed.initialize()`` without arguments
    runs the detection and raises when it finds nothing. The same detection
    (``jax._src.clusters.ClusterEnv``: Cloud TPU, SLURM, Open MPI, Kubernetes; mpi4py is
    opt-in there and here) is asked directly, so nothing is initialised on a laptop. If
    that private module moves, the public route is taken instead (see ``initialize``).

    One narrowing: JAX counts any Kubernetes pod (``KUBERNETES_SERVICE_HOST``) as a
    cluster, which would make every containerised single-process run (a CI job) wait
    for a coordinator. Here Kubernetes counts only in an Indexed Job
    (``JOB_COMPLETION_INDEX``), the layout of a multi-pod JAX job.
    """
    try:
        from jax._src.clusters import ClusterEnv

        types = list(ClusterEnv._cluster_types)
    except (ImportError, AttributeError):
        return "unknown"  # private API gone: let jax.distributed.initialize() decide
    for env in types:
        if getattr(env, "opt_in_only_method", False):
            continue
        if env.__name__ == "K8sCluster" and "JOB_COMPLETION_INDEX" not in os.environ:
            continue
        if env.is_env_present():
            return env.__name__
    return None


def _watchdog(seconds: int, message: str) -> threading.Timer:
    """Ends the process with ``message`` unless cancelled within ``seconds``.

    ``jax.distributed.initialize`` blocks in C++ until every process has joined and, at
    its own deadline, aborts the interpreter with a stack trace: no Python exception can
    be caught. This timer fires first and exits with ``TIMEOUT_EXIT_STATUS``.
    """

    def fire():
        print(f"error: {message}", file=sys.stderr, flush=True)
        os._exit(TIMEOUT_EXIT_STATUS)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout: int = DEFAULT_INITIALIZATION_TIMEOUT,
) -> str:
    """Starts ``jax.distributed`` when asked or on a detected cluster; returns how.

    Returns:
      ``"flags"`` (explicit coordinator), the detected cluster's name, or ``"single"``
      (nothing initialised).

    Raises:
      ValueError: bad flags (see ``check_flags``).

    A process that cannot complete start-up within ``timeout`` seconds (the coordinator
    never answers, or not all ``num_processes`` join) prints an ``error:`` line naming
    the coordinator and the timeout and exits with status ``TIMEOUT_EXIT_STATUS``.
    """
    explicit = check_flags(coordinator, num_processes, process_id, timeout)
    cluster = None if explicit else detected_cluster()
    if not explicit and cluster is None:
        return "single"

    import jax

    # CPU processes exchange collectives over TCP with Gloo (the default in recent JAX;
    # set explicitly so that older versions do not fall back to no collectives). GPU and
    # TPU backends use NCCL / ICI and ignore this.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if explicit:
        who = (
            f"process {process_id} of {num_processes} could not join the coordinator at "
            f"{coordinator}"
        )
        fix = (
            "start process 0 (it runs the coordinator) on that host with the same "
            "--coordinator and --num-processes, check the port is reachable, or raise "
            "--initialization-timeout."
        )
        if process_id == 0:
            who = (
                f"process 0 (the coordinator at {coordinator}) did not hear from all "
                f"{num_processes} processes"
            )
            fix = (
                "start every process 1..N-1 with the same --coordinator and "
                "--num-processes, or raise --initialization-timeout."
            )
        message = f"{who} within {timeout} s (--initialization-timeout); {fix}"
    else:
        message = (
            f"jax.distributed.initialize() on the detected {cluster} cluster did not "
            f"complete within {timeout} s (--initialization-timeout); check that every "
            f"task of the job started, or give --coordinator, --num-processes and "
            f"--process-id explicitly."
        )
    timer = _watchdog(timeout, message)
    try:
        if explicit:
            jax.distributed.initialize(
                coordinator_address=coordinator,
                num_processes=num_processes,
                process_id=process_id,
                initialization_timeout=timeout + _JAX_DEADLINE_MARGIN,
            )
        else:
            try:
                jax.distributed.initialize(initialization_timeout=timeout + _JAX_DEADLINE_MARGIN)
            except ValueError:
                if cluster != "unknown":
                    raise
                return "single"  # the public route: no cluster found
    finally:
        timer.cancel()
    return "flags" if explicit else cluster


def initialize_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """``initialize`` from the flags of ``add_flags``; bad flags become ``parser.error``."""
    try:
        return initialize(
            args.coordinator,
            args.num_processes,
            args.process_id,
            timeout=args.initialization_timeout,
        )
    except ValueError as e:
        parser.error(str(e))


def is_main_process() -> bool:
    """True in process 0, the one that prints and writes files."""
    import jax

    return jax.process_index() == 0


def process_rows(sharding, global_shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Indices along ``axis`` of the global array that this process's devices hold.

    In the order ``jax.make_array_from_process_local_data`` expects its local data:
    the process's distinct slices along ``axis``, ascending. A dimension that is not
    sharded gives all its indices.
    """
    starts = set()
    for index in sharding.addressable_devices_indices_map(global_shape).values():
        s = index[axis]
        starts.add((s.start or 0, global_shape[axis] if s.stop is None else s.stop))
    return np.concatenate([np.arange(a, b) for a, b in sorted(starts)])


def global_batch(
    sharding, global_shape: tuple[int, ...], axis: int, local: Callable[[np.ndarray], np.ndarray]
):
    """The global array of ``global_shape`` from this process's rows alone.

    ``local(rows)`` returns the data of the global indices ``rows`` along ``axis`` (all
    of every other dimension); it is called once, for this process's rows only.
    """
    import jax

    data = local(process_rows(sharding, global_shape, axis))
    return jax.make_array_from_process_local_data(sharding, data, global_shape)
