"""Test-wide settings: strict promotion rules (as equinox does) and float64 for the reference."""

import jax
import pytest
from hypothesis import settings

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

settings.register_profile("jaxloss", derandomize=True, deadline=None, max_examples=30)
settings.load_profile("jaxloss")


@pytest.fixture(params=["eager", "jit"])
def mode(request):
    """Runs a test once eagerly and once under jax.jit."""
    return request.param
