"""Interleaved timing: every variant of a case runs once per round (A B C A B C ...).

Absolute times drift by tens of percent between runs on a shared machine; the ratio between
variants measured in the same rounds moves far less, so each case reports medians and the
ratio of each median to the case's baseline.

Inputs are placed on the device and made ready before timing. A variant marked ``donate``
gets a fresh, already written copy of its first argument every round (made outside the
timed region), which it donates: the gradient then reuses that buffer instead of freshly
mapped memory, so the page faults of a new 256 MiB buffer are not timed.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp


@dataclasses.dataclass
class Variant:
    label: str
    fn: Callable[..., Any]
    args: Sequence[Any]
    donate: bool = False
    sync: Callable[[Any], Any] = jax.block_until_ready
    memory: int | None = None  # compiled temp bytes, when known


_clock = time.perf_counter


def use_cpu_time(flag: bool) -> None:
    """Time with the process's CPU time (all threads) instead of wall-clock time."""
    global _clock
    _clock = time.process_time if flag else time.perf_counter


@jax.jit
def _fresh_copy(x):
    return x * jnp.ones((), x.dtype)


def _run_once(v: Variant) -> float:
    args = list(v.args)
    if v.donate:
        args[0] = _fresh_copy(args[0])
        jax.block_until_ready(args[0])
    start = _clock()
    out = v.fn(*args)
    v.sync(out)
    elapsed = _clock() - start
    del out, args
    return elapsed


def interleaved(variants: Sequence[Variant], rounds: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per variant over ``rounds`` interleaved rounds after ``warmup`` rounds."""
    times: dict[str, list[float]] = {v.label: [] for v in variants}
    for r in range(warmup + rounds):
        for v in variants:
            t = _run_once(v)
            if r >= warmup:
                times[v.label].append(t)
    return {k: statistics.median(ts) for k, ts in times.items()}


def temp_bytes(fn: Callable[..., Any], *args: Any, donate: bool = False) -> int | None:
    """Temp bytes of the compiled XLA executable (``memory_analysis()``), or None."""
    try:
        jitted = jax.jit(fn, donate_argnums=(0,) if donate else ())
        analysis = jitted.lower(*args).compile().memory_analysis()
    except Exception:  # a backend without memory analysis
        return None
    return None if analysis is None else int(analysis.temp_size_in_bytes)
