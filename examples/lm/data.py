"""Generated data for the language-model example: a copy task over a Zipf vocabulary.

Each sequence of ``seq_len`` tokens is ``seq_len // 2`` tokens drawn i.i.d. from a Zipf
distribution over the whole vocabulary (P(k) ∝ 1 / (k + 1)**s), then the same tokens again.
Predicting the first half is unigram statistics (the best possible loss is the Zipf
entropy); predicting the second half is copying from the context (an induction head), whose
best loss is 0. So a model that learns both reaches :func:`optimal_loss`, and the curve shows
the two phases: the unigram drop first, the copy drop later.
"""

from __future__ import annotations

import numpy as np


def zipf_probabilities(vocab_size: int, exponent: float) -> np.ndarray:
    p = 1.0 / np.arange(1, vocab_size + 1, dtype=np.float64) ** exponent
    return p / p.sum()


def batch_at(step: int, vocab_size: int, seq_len: int, batch_size: int, *, exponent: float,
             seed: int) -> np.ndarray:
    """The (batch_size, seq_len + 1) int32 tokens of training step ``step``: inputs are
    ``[:, :-1]`` and next-token targets ``[:, 1:]``.

    A function of (seed, step) alone, so every process of a multi-host run computes the same
    global batch (a few KB) and a resumed run continues with the batches it would have seen.
    """
    if seq_len % 2:
        raise ValueError(f"examples.lm: `seq_len` must be even (a sequence and its copy), got "
                         f"{seq_len}.")
    rng = np.random.default_rng([seed, step])
    half = (seq_len + 2) // 2
    first = rng.choice(vocab_size, size=(batch_size, half),
                       p=zipf_probabilities(vocab_size, exponent)).astype(np.int32)
    return np.concatenate([first, first], axis=1)[:, : seq_len + 1]


def unigram_loss(vocab_size: int, exponent: float) -> float:
    """The loss, in nats per token, of a model that knows the token frequencies but does not
    copy: the Zipf entropy."""
    p = zipf_probabilities(vocab_size, exponent)
    return float(-(p * np.log(p)).sum())


def optimal_loss(vocab_size: int, seq_len: int, exponent: float) -> float:
    """The mean next-token loss of a perfect model, in nats: the Zipf entropy on the first
    half's predictions, 0 on the copies."""
    entropy = unigram_loss(vocab_size, exponent)
    half = (seq_len + 2) // 2
    unpredictable = half - 1  # targets 1 .. half-1 are fresh draws; the rest are copies
    return entropy * unpredictable / seq_len
