"""Vocabulary parallelism (``class_axis_name``): a 4-device subprocess equals one device;
named errors for a bad ``class_axis_name``."""

import re
from pathlib import Path

import jax.numpy as jnp
import pytest
from helpers import run_on_devices

import jaxloss

# Slow (vocabulary-parallel programs compiled on a 2x2 mesh in subprocesses): `python -m pytest
# --run-slow` runs it, as CI does.
pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


def test_vocab_parallel_equals_unsharded():
    proc = run_on_devices([str(HERE / "_vocab_parallel_script.py")])
    assert proc.returncode == 0 and "ALL OK" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.count("OK ") >= 33


@pytest.mark.parametrize(
    "call",
    [
        lambda: jaxloss.cross_entropy(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32),
                                      class_axis_name="model"),
        lambda: jaxloss.focal_loss(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32),
                                   class_axis_name="model"),
        lambda: jaxloss.linear_cross_entropy(jnp.zeros((2, 4)), jnp.zeros((3, 4)),
                                             jnp.zeros(2, jnp.int32), class_axis_name="model"),
        lambda: jaxloss.nll_loss(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32),
                                 class_axis_name="model"),
        lambda: jaxloss.logit_adjusted_cross_entropy(
            jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), class_counts=jnp.ones(3),
            class_axis_name="model"),
        lambda: jaxloss.ldam_loss(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32),
                                  class_counts=jnp.ones(3), class_axis_name="model"),
        lambda: jaxloss.poly1_cross_entropy(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32),
                                            class_axis_name="model"),
        lambda: jaxloss.distillation_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3)), temperature=2.0,
                                          class_axis_name="model"),
    ],
)
def test_unbound_class_axis_is_a_named_error(call):
    with pytest.raises(ValueError, match=re.escape(
        "`class_axis_name`='model' is not a bound mesh axis: call the loss inside "
        "`jax.shard_map`"
    )):
        call()
