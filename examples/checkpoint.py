"""Checkpoints that survive a killed job: Orbax, with the run's configuration checked.

``Checkpoints(directory, config=...)`` wraps an ``orbax.checkpoint.CheckpointManager``
that saves two items per step:

- ``state``: any pytree of arrays (parameters, optimiser state, data-order RNG key...),
  saved with ``StandardSave``; sharded or replicated global arrays work across processes
  (every process calls ``save``; each writes the shards it owns, Orbax synchronises them).
- ``meta``: a JSON dict: the trainer's own progress (history, step losses) plus, added
  here, ``format`` and the ``config`` that makes the state meaningful.

Orbax writes a step into ``<step>.orbax-checkpoint-tmp-<time>`` and renames it to
``<step>`` only when every item (on every process) is complete: a job killed while
saving leaves a temporary folder, which is never listed as a step, so ``latest_step``
is always a complete checkpoint.

Opening a folder never writes into it before it is known that the run can resume from
it: a folder with checkpoints of another configuration, or with files that are not
checkpoints, raises ``CheckpointMismatchError`` and is left untouched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Any

FORMAT = "jaxloss-examples-checkpoint/1"
# Orbax's temporary folder of a step being written (and of one cut short by a kill).
_TMP = re.compile(r"^\d+\.orbax-checkpoint-tmp-\d+$")


class CheckpointMismatchError(ValueError):
    """The checkpoint folder holds something this run cannot resume from."""


@contextlib.contextmanager
def _quiet_orbax():
    """Orbax logs every option it adjusts at WARNING; keep the trainer's terminal clean."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _process_index() -> int:
    import jax

    return jax.process_index()


def _sync(name: str) -> None:
    """A barrier across processes (nothing to do in a single-process run)."""
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _canonical(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value))


def config_differences(saved: dict, current: dict) -> list[str]:
    """``"key: checkpoint X, this run Y"`` for every key that differs."""
    saved, current = _canonical(saved), _canonical(current)

    def show(d, key):
        return repr(d[key]) if key in d else "(absent)"

    return [
        f"{key}: checkpoint {show(saved, key)}, this run {show(current, key)}"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key) or (key in saved) != (key in current)
    ]


class Checkpoints:
    """Save and restore one run's state in ``directory``; see the module docstring.

    Args:
      directory: the checkpoint folder; on a multi-host run, a path every process sees
        (a shared file system or a bucket Orbax supports, e.g. ``gs://``).
      config: what the state depends on (JSON-able). A folder whose latest checkpoint
        was saved with another ``config`` raises ``CheckpointMismatchError``.
      max_to_keep: how many of the latest checkpoints to keep.
      flag: how the folder is named in errors (the trainer's flag).

    Raises:
      CheckpointMismatchError: ``directory`` holds checkpoints of another configuration
        (the message lists the differing keys), checkpoints of something else, or files
        that are not checkpoints. Nothing is written into it then.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        config: dict,
        max_to_keep: int = 2,
        flag: str = "--checkpoint-dir",
    ):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = Path(directory).absolute()
        self.config = _canonical(config)
        self._flag = flag
        self.latest_step: int | None = None
        self.latest_meta: dict | None = None
        self._check_existing()
        # Every process has looked before any writes, and the folder exists before any
        # manager opens it: left to Orbax, a process that finds the folder already
        # created by process 0 skips a barrier that the others wait at.
        _sync("jaxloss-checkpoint-checked")
        if _process_index() == 0:
            self.directory.mkdir(parents=True, exist_ok=True)
        _sync("jaxloss-checkpoint-created")
        with _quiet_orbax():
            self.manager = ocp.CheckpointManager(
                self.directory,
                options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=False),
                item_names=("state", "meta"),
            )

    def _where(self) -> str:
        return f"{self._flag} {self.directory}"

    def _check_existing(self) -> None:
        """Finds the latest complete checkpoint and checks it can be resumed; writes nothing."""
        ocp = self._ocp
        if not self.directory.exists():
            return
        if not self.directory.is_dir():
            raise CheckpointMismatchError(f"{self._where()} is a file, not a folder.")
        with _quiet_orbax():
            reader = ocp.CheckpointManager(
                self.directory,
                options=ocp.CheckpointManagerOptions(read_only=True),
                item_names=("state", "meta"),
            )
            steps = reader.all_steps()
        if not steps:
            others = sorted(p.name for p in self.directory.iterdir() if not _TMP.match(p.name))
            if others:
                raise CheckpointMismatchError(
                    f"{self._where()} is not empty but holds no complete checkpoint "
                    f"(found {', '.join(others[:5])}{', ...' if len(others) > 5 else ''}); "
                    f"refusing to write into it. Choose an empty or new folder."
                )
            return  # empty, or only temporary folders of checkpoints cut short
        step = max(steps)
        try:
            with _quiet_orbax():
                restored = reader.restore(
                    step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
                )
            meta = restored["meta"]
        except Exception as e:  # not written by this module: any reading error
            raise CheckpointMismatchError(
                f"{self._where()}: step {step} is not a checkpoint of this trainer "
                f"({type(e).__name__}: {e}); choose another folder."
            ) from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointMismatchError(
                f"{self._where()}: step {step} was not written by this trainer "
                f"(format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                f"expected {FORMAT!r}); choose another folder."
            )
        diffs = config_differences(meta.get("config", {}), self.config)
        if diffs:
            raise CheckpointMismatchError(
                f"{self._where()} holds a checkpoint (step {step}) of a different "
                f"configuration, so this run cannot resume from it:\n  "
                + "\n  ".join(diffs)
                + "\nRun with the checkpoint's settings to resume it, or choose another "
                f"{self._flag}; nothing in it was changed."
            )
        self.latest_step, self.latest_meta = step, meta

    def restore(self, abstract_state: Any) -> Any:
        """The state of ``latest_step``, shaped and sharded like ``abstract_state``
        (a pytree of ``jax.ShapeDtypeStruct`` with shardings)."""
        ocp = self._ocp
        with _quiet_orbax():
            restored = self.manager.restore(
                self.latest_step,
                args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)),
            )
        return restored["state"]

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Starts saving ``state`` and ``meta`` as ``step`` (asynchronously; every process
        must call it). The step becomes visible only once complete."""
        ocp = self._ocp
        meta = {**_canonical(meta), "format": FORMAT, "config": self.config, "step": step}
        with _quiet_orbax():
            self.manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
                ),
                force=True,
            )

    def close(self) -> None:
        """Waits for the last save to complete, then releases the manager."""
        self.manager.wait_until_finished()
        self.manager.close()


def load_state(directory: str | Path, step: int | None = None) -> tuple[Any, dict]:
    """Reads a checkpoint as plain nested dicts of arrays on this process's first device,
    whatever devices saved it, and its meta; for inspection and tests. ``step`` defaults
    to the latest complete one."""
    import jax
    import orbax.checkpoint as ocp

    directory = Path(directory).absolute()
    with _quiet_orbax():
        reader = ocp.CheckpointManager(
            directory,
            options=ocp.CheckpointManagerOptions(read_only=True),
            item_names=("state", "meta"),
        )
        step = reader.latest_step() if step is None else step
        meta = reader.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        checkpointer = ocp.StandardCheckpointer()
        tree = checkpointer.metadata(directory / str(step) / "state").item_metadata.tree
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        abstract = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
            tree,
            is_leaf=lambda m: hasattr(m, "shape"),
        )
        state = checkpointer.restore(directory / str(step) / "state", abstract)
        checkpointer.close()
    return state, meta
