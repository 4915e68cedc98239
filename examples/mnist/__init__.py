"""MNIST trainer that compares jaxloss losses on (optionally) imbalanced data.

Run ``python -m examples.mnist --help`` from the repository root.
"""
