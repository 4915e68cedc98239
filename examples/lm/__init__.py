"""A tiny causal language model trained with ``jaxloss.linear_cross_entropy`` on a 2-D
("data", "model") mesh: ``python -m examples.lm --help``."""
