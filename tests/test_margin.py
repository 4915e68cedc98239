"""Margin, ranking and embedding losses: parity with PyTorch 2.13 (recorded values and the
gradients it takes at the hinges) and with the float64 reference, over an option grid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from helpers import assert_close, fd_grad, maybe_jit
from hypothesis import given
from hypothesis import strategies as st
from tolerances import GRAD_ATOL, GRAD_RTOL

import jaxloss

REDUCTIONS = ("none", "sum", "mean")

# ---------------------------------------------------------------------------------------------
# PyTorch 2.13, recorded: `python tests/record_torch_margin.py | ruff format -` (torch
# 2.13.0+cpu, float64). {name: [(args, kwargs, expected)]}: the jaxloss call (lists for arrays,
# Python ints for integer labels, jaxloss keywords) and torch.nn.functional's value for it.
# ---------------------------------------------------------------------------------------------

TORCH_RECORDED = {
    "margin_ranking_loss": [
        (([0.5, -1.2, 2.0, 0.3], [1.0, 0.4, -0.3, 0.8], [1.0, -1.0, 1.0, -1.0]), {}, 0.125),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[1.0, -1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, 1.0]],
            ),
            {"margin": 0.5, "reduction": "none"},
            [[1.0, 0.0, 0.0, 0.0], [2.5, 0.5, 3.0999999999999996, 1.6], [1.5, 0.0, 0.0, 0.0]],
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[1.0, -1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, 1.0]],
            ),
            {"margin": 0.3, "reduction": "sum"},
            8.999999999999998,
        ),
    ],
    "hinge_embedding_loss": [
        (
            (
                [[0.5, 1.2, 2.0, 0.3], [1.5, 0.2, 0.7, 2.1], [0.4, 0.9, 0.0, 1.1]],
                [[1, -1, 1, -1], [-1, -1, 1, 1], [1, 1, -1, 1]],
            ),
            {},
            0.8500000000000001,
        ),
        (
            (
                [[0.5, 1.2, 2.0, 0.3], [1.5, 0.2, 0.7, 2.1], [0.4, 0.9, 0.0, 1.1]],
                [[1.0, -1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, 1.0]],
            ),
            {"margin": 2.0, "reduction": "none"},
            [[0.5, 0.8, 2.0, 1.7], [0.5, 1.8, 0.7, 2.1], [0.4, 0.9, 2.0, 1.1]],
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1, -1, 0, -1], [2, -1, 1, 1], [1, 1, -1, 0]],
            ),
            {"margin": 0.5, "reduction": "none"},
            [[0.5, 1.7, 2.0, 0.2], [1.5, 0.3, -0.7, -2.1], [-0.4, 0.9, 0.5, 1.1]],
        ),
    ],
    "soft_margin_loss": [
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, -1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, 1.0]],
            ),
            {},
            0.8142960049388844,
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1, -1, 1, -1], [-1, -1, 1, 1], [1, 1, -1, 1]],
            ),
            {"reduction": "none"},
            [
                [0.4740769841801067, 0.26328246733803123, 0.1269280110429725, 0.8543552444685272],
                [1.7014132779827524, 0.7981388693815918, 1.103186048885458, 2.215519523179755],
                [0.9130152523999526, 0.3411538747320878, 0.6931471805599453, 0.2873353251154308],
            ],
        ),
        (([[-100.0, 100.0, 0.0]], [[1.0, 1.0, -1.0]]), {"reduction": "sum"}, 100.69314718055995),
    ],
    "multilabel_soft_margin_loss": [
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9, 0.0, 1.0], [0.5, 0.5, 0.1, 0.7]],
            ),
            {},
            0.7642960049388843,
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9, 0.0, 1.0], [0.5, 0.5, 0.1, 0.7]],
            ),
            {"class_weights": [0.5, 1.0, 2.0, 1.5], "reduction": "none"},
            [0.508927462054205, 1.3621242227283792, 0.8649897124312753],
        ),
        (
            (
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[1, -1, 1, -1], [-1, -1, 1, 1], [1, 1, -1, 1]],
            ),
            {"reduction": "sum"},
            2.8657702717812574,
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9, 0.0, 1.0], [0.5, 0.5, 0.1, 0.7]],
            ),
            {"class_weights": [[0.5], [1.0], [2.0]]},
            0.9272401948799341,
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9, 0.0, 1.0], [0.5, 0.5, 0.1, 0.7]],
            ),
            {
                "class_weights": [[0.5, 1.0, 2.0, 1.5], [1.0, 0.2, 0.7, 3.0], [2.5, 1.0, 0.1, 0.4]],
                "reduction": "none",
            },
            [0.508927462054205, 2.113457463904539, 0.7224852134585342],
        ),
        (
            (
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9, 0.0, 1.0], [0.5, 0.5, 0.1, 0.7]],
            ),
            {"class_weights": [[0.5, 1.0, 2.0, 1.5]], "reduction": "sum"},
            3.9717438336099136,
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9, 0.0, 1.0], [0.5, 0.5, 0.1, 0.7]],
            ),
            {"class_weights": 1.5, "reduction": "none"},
            [0.6444910151361141, 1.739346644786084, 1.0554943623027813],
        ),
        (
            (
                [[0.5, 1.5, -0.4], [-1.2, 0.2, 0.9], [2.0, -0.7, 0.0], [0.3, -2.1, 1.1]],
                [[1.0, 0.2, 0.5], [0.0, 0.9, 0.5], [1.0, 0.0, 0.1], [0.0, 1.0, 0.7]],
            ),
            {"axis": 0, "class_weights": [0.5, 1.0, 2.0, 1.5], "reduction": "none"},
            [0.508927462054205, 1.3621242227283792, 0.8649897124312753],
        ),
        (
            (
                [
                    [[0.5, 1.5, -0.4], [-1.2, 0.2, 0.9], [2.0, -0.7, 0.0], [0.3, -2.1, 1.1]],
                    [[1.0, -0.5, 0.6], [0.4, 0.2, -1.5], [-0.3, 1.9, 0.7], [0.8, -1.0, 0.1]],
                ],
                [
                    [[1.0, 0.2, 0.5], [0.0, 0.9, 0.5], [1.0, 0.0, 0.1], [0.0, 1.0, 0.7]],
                    [[1.0, 0.2, 0.5], [0.0, 0.9, 0.5], [1.0, 0.0, 0.1], [0.0, 1.0, 0.7]],
                ],
            ),
            {"axis": 1, "class_weights": [0.5, 1.0, 2.0, 1.5], "reduction": "none"},
            [
                [0.508927462054205, 1.3621242227283792, 0.8649897124312753],
                [1.1337518960044464, 1.7384608523287253, 1.099531085276742],
            ],
        ),
    ],
    "multi_margin_loss": [
        (
            ([[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]], [2, 0, 3]),
            {},
            0.06666666666666667,
        ),
        (
            ([[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]], [2, 0, 3]),
            {"p": 2, "reduction": "none"},
            [0.0, 0.0, 0.15999999999999998],
        ),
        (
            ([[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]], [2, 0, 3]),
            {"p": 2, "margin": 0.7, "class_weights": [0.5, 1.0, 2.0, 1.5]},
            0.031249999999999986,
        ),
        (
            ([[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]], [2, 0, 3]),
            {"class_weights": [0.5, 1.0, 2.0, 1.5], "reduction": "sum"},
            4.9125,
        ),
        (([0.5, -1.2, 2.0, 0.3], 2), {"margin": 2.0, "reduction": "none"}, 0.2),
        (([1.5, 0.2, -0.7, -2.1], [0]), {"p": 2, "reduction": "none"}, [0.0]),
        (([-0.4, 0.9, 0.0, 1.1], [3]), {"class_weights": [0.5, 1.0, 2.0, 1.5]}, 0.3),
        ((0.7, 0), {"reduction": "none"}, 0.0),
        ((0.7, [0]), {"reduction": "none"}, [0.0]),
        ((0.7, 0), {"class_weights": [2.0], "margin": 0.5, "reduction": "sum"}, 0.0),
        (
            ([[0.5, 1.5, -0.4], [-1.2, 0.2, 0.9], [2.0, -0.7, 0.0], [0.3, -2.1, 1.1]], [2, 0, 3]),
            {"axis": 0, "p": 2, "class_weights": [0.5, 1.0, 2.0, 1.5], "reduction": "none"},
            [0.0, 0.0, 0.23999999999999996],
        ),
        (
            (
                [
                    [[0.5, 1.5, -0.4], [-1.2, 0.2, 0.9], [2.0, -0.7, 0.0], [0.3, -2.1, 1.1]],
                    [[1.0, -0.5, 0.6], [0.4, 0.2, -1.5], [-0.3, 1.9, 0.7], [0.8, -1.0, 0.1]],
                ],
                [[2, 0, 3], [1, 1, 0]],
            ),
            {"axis": 1, "reduction": "none"},
            [[0.0, 0.0, 0.19999999999999998], [0.825, 0.75, 0.4]],
        ),
        (
            (
                [
                    [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                    [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                ],
                [[2, 0, 3], [1, 1, 0]],
            ),
            {"axis": -1, "margin": 0.5, "reduction": "sum"},
            1.275,
        ),
    ],
    "multilabel_margin_loss": [
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[2, 0, -1, 1], [3, 3, -1, 0], [1, 2, 3, 0]],
            ),
            {},
            1.7833333333333334,
        ),
        (
            (
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[2, 0, -1, 1], [3, 3, -1, 0], [1, 2, 3, 0]],
            ),
            {"reduction": "none"},
            [1.25, 3.8000000000000003, 0.0],
        ),
        (([0.8, 1.1, -0.2, 0.3], [2, 0, -1, 1]), {"reduction": "none"}, 1.4),
        ((0.7, 0), {"reduction": "none"}, 0.0),
        ((0.7, -1), {}, 0.0),
        ((0.7, [0]), {"reduction": "sum"}, 0.0),
        (([0.3], 0), {}, 0.0),
        (
            (
                [[0.5, 1.5, -0.4], [-1.2, 0.2, 0.9], [2.0, -0.7, 0.0], [0.3, -2.1, 1.1]],
                [[2, 3, 1], [0, 3, 2], [-1, -1, 3], [1, 0, 0]],
            ),
            {"axis": 0, "reduction": "none"},
            [0.2, 5.15, 0.0],
        ),
        (
            (
                [
                    [[0.5, 1.5, -0.4], [-1.2, 0.2, 0.9], [2.0, -0.7, 0.0], [0.3, -2.1, 1.1]],
                    [[0.2, 0.8, -1.3], [-0.6, 1.1, 0.4], [1.4, -0.2, 0.5], [-0.9, 0.3, 2.2]],
                ],
                [
                    [[2, 3, 1], [0, 3, 2], [-1, -1, 3], [1, 0, 0]],
                    [[1, 3, 2], [2, 3, 0], [3, -1, -1], [0, 0, 1]],
                ],
            ),
            {"axis": 1, "reduction": "none"},
            [[0.2, 5.15, 0.0], [0.0, 1.9, 2.7]],
        ),
    ],
    "cosine_embedding_loss": [
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [1, -1, -1],
            ),
            {},
            0.3709924825613813,
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
                [1.0, -1.0, -1.0],
            ),
            {"margin": 0.2, "reduction": "none"},
            [0.21737943319285258, 0.046482396694160294, 0.648410349782867],
        ),
        (
            (
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
                [1, 0, -1],
            ),
            {"margin": -0.5, "reduction": "sum"},
            1.8077313598935056,
        ),
        (([0.5, -1.2, 2.0, 0.3], [1.0, 0.4, -0.3, 0.8], -1), {"reduction": "none"}, 0.0),
    ],
    "triplet_margin_loss": [
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
            ),
            {},
            2.1435116909061493,
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
            ),
            {"swap": True, "margin": 2.0, "reduction": "none"},
            [3.3896355515403878, 2.756068266696232, 3.284831254481828],
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
            ),
            {"p": 1, "margin": 0.5, "eps": 0.0, "reduction": "none"},
            [0.0, 0.0, 0.0],
        ),
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
            ),
            {"p": float("inf"), "margin": 3.0, "reduction": "sum"},
            11.600001999999998,
        ),
        (
            (
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
            ),
            {"p": 3, "margin": 2.5, "eps": 0.1, "reduction": "none"},
            [2.730809481457504, 3.1013692673701296, 2.1557839481781405],
        ),
    ],
    "triplet_margin_with_distance_loss": [
        (
            (
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
            ),
            {"margin": 2.0},
            3.14351169090615,
        ),
        (
            (
                [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]],
                [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]],
                [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]],
            ),
            {"swap": True, "margin": 3.0, "reduction": "none"},
            [1.776031966425887, 2.771126176376353, 1.7151689974944877],
        ),
    ],
}

TORCH_KINK_GRADS = {
    "margin_ranking_loss": [
        (
            ([1.0, 0.5, 2.0], [0.0, 0.5, 0.0], [1.0, 1.0, -1.0]),
            {"margin": 1.0, "reduction": "none"},
            [[-1.0, -1.0, 1.0], [1.0, 1.0, -1.0], [-1.0, -0.0, -2.0]],
        ),
        (
            ([1.0, 0.5, 2.0], [0.0, 0.5, 0.0], [1.0, 1.0, -1.0]),
            {"reduction": "none"},
            [[-0.0, -1.0, 1.0], [0.0, 1.0, -1.0], [-0.0, -0.0, -2.0]],
        ),
    ],
    "hinge_embedding_loss": [
        (
            ([1.0, 1.0, 0.3, 0.3, -2.0], [-1, 1, 0, 2, -1]),
            {"reduction": "none"},
            [[-1.0, 1.0, 0.0, 0.0, -1.0]],
        )
    ],
    "multi_margin_loss": [
        (
            ([[1.0, 0.0, 0.5]], [0]),
            {"reduction": "none"},
            [[[-0.3333333333333333, 0.0, 0.3333333333333333]]],
        ),
        (
            ([[1.0, 0.0, 0.5]], [0]),
            {"p": 2, "reduction": "none"},
            [[[-0.3333333333333333, 0.0, 0.3333333333333333]]],
        ),
    ],
    "multilabel_margin_loss": [
        (
            ([[1.0, 0.0, 0.5]], [[0, -1, 0]]),
            {"reduction": "none"},
            [[[-0.3333333333333333, 0.0, 0.3333333333333333]]],
        )
    ],
    "cosine_embedding_loss": [
        (
            ([[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [2.0, 0.5]], [-1, 1]),
            {"reduction": "none"},
            [
                [[0.0, 0.9999999999989999], [-0.257247877713883, 0.25724787771345425]],
                [[0.9999999999989999, 0.0], [0.06052891240312119, -0.24211564961288834]],
            ],
        )
    ],
    "triplet_margin_loss": [
        (
            ([[0.0, 0.0]], [[1.0, 0.0]], [[2.0, 0.0]]),
            {"eps": 0.0, "reduction": "none"},
            [[[0.0, 0.0]], [[1.0, -0.0]], [[-1.0, 0.0]]],
        ),
        (
            ([[0.0, 0.0]], [[2.0, 0.0]], [[1.0, 1.0]]),
            {"eps": 0.0, "swap": True, "reduction": "none"},
            [
                [[-0.6464466094067263, 0.35355339059327373]],
                [[0.6464466094067263, 0.35355339059327373]],
                [[0.0, -0.7071067811865475]],
            ],
        ),
        (
            ([[1.0, 2.0]], [[1.0, 2.0]], [[0.0, 0.0]]),
            {"eps": 0.0, "margin": 5.0, "reduction": "none"},
            [
                [[-0.4472135954999579, -0.8944271909999159]],
                [[-0.0, -0.0]],
                [[0.4472135954999579, 0.8944271909999159]],
            ],
        ),
        (
            ([[1.0, 2.0]], [[1.0, 2.0]], [[0.0, 0.0]]),
            {"eps": 0.0, "margin": 5.0, "p": 1, "reduction": "none"},
            [[[-1.0, -1.0]], [[-0.0, -0.0]], [[1.0, 1.0]]],
        ),
    ],
}


def _array(v):
    a = np.asarray(v)
    return a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a.astype(np.float64)


def _torch_cases(table):
    return [
        pytest.param(name, args, kwargs, want, id=f"{name}-{i}")
        for name, cases in table.items()
        for i, (args, kwargs, want) in enumerate(cases)
    ]


@pytest.mark.parametrize("name, args, kwargs, want", _torch_cases(TORCH_RECORDED))
def test_matches_recorded_torch_values(name, args, kwargs, want):
    with jax.enable_x64(True):
        got = getattr(jaxloss, name)(*[_array(a) for a in args], **kwargs)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, args, kwargs, want", _torch_cases(TORCH_KINK_GRADS))
def test_gradients_at_the_hinge_are_torchs(name, args, kwargs, want):
    """At exactly-0 hinges jaxloss takes PyTorch's gradient: the active branch's for the
    clamp_min losses (margin_ranking, hinge_embedding, cosine_embedding, triplet), 0 for the
    multi-margin kernels (a term counts only where its hinge is > 0), 0 for the norm of a zero
    difference and an even split at a swap tie."""
    with jax.enable_x64(True):
        arrays = [_array(a) for a in args]
        argnums = tuple(i for i, a in enumerate(arrays) if a.dtype == np.float64)

        def total(*floats):
            full = list(arrays)
            for i, v in zip(argnums, floats, strict=True):
                full[i] = v
            return jnp.sum(getattr(jaxloss, name)(*full, **kwargs))

        grads = jax.grad(total, argnums=tuple(range(len(argnums))))(
            *[arrays[i] for i in argnums]
        )
        assert len(grads) == len(want)
        for got, w in zip(grads, want, strict=True):
            np.testing.assert_allclose(np.asarray(got), w, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# the option grid against the float64 reference: values (eager and jit, each reduction) and
# gradients of every float argument against finite differences of the reference
# ---------------------------------------------------------------------------------------------


def _signs(rng, shape, dtype=np.float64):
    return np.where(rng.uniform(size=shape) < 0.5, -1, 1).astype(dtype)


def _multilabel_targets(rng, n, c):
    """Rows in PyTorch's format: a few labels (repeats allowed), -1, then arbitrary labels."""
    t = rng.integers(-1, c, (n, c))
    for row in t:
        k = rng.integers(0, c + 1)
        row[:k] = rng.integers(0, c, k)
        if k < c:
            row[k] = -1
    return t.astype(np.int32)


def _sq_l2(u, v):
    return jnp.sum((u - v) ** 2, axis=-1)


def _sq_l2_np(u, v):
    return np.sum((u - v) ** 2, axis=-1)


def _cosine_distance(u, v):
    return 1.0 - jnp.sum(u * v, -1) / jnp.sqrt(jnp.sum(u * u, -1) * jnp.sum(v * v, -1))


def _cosine_distance_np(u, v):
    return 1.0 - np.sum(u * v, -1) / np.sqrt(np.sum(u * u, -1) * np.sum(v * v, -1))


# jaxloss's distance function -> the reference's
REF_DISTANCE = {_sq_l2: _sq_l2_np, _cosine_distance: _cosine_distance_np}

MASK_34 = np.array([[True, False, True, True], [True, True, True, False],
                    [False, False, False, False]])
MASK_4 = np.array([True, False, True, True])
MASK_22 = np.array([[True, False], [True, True]])
MASK_25 = np.array([[True, False, True, True, False], [True, True, True, False, True]])
W5 = np.array([0.5, 1.0, 2.0, 1.5, 0.8])


def _make(name, rng):
    """(args, indices of the differentiable float arguments) for ``name``."""
    n = rng.standard_normal
    if name == "margin_ranking_loss":
        return (n((3, 4)), n((3, 4)), _signs(rng, (3, 4))), (0, 1, 2)
    if name == "hinge_embedding_loss":
        y = _signs(rng, (3, 4), np.int32)
        y[0, 0] = 0  # neither 1 nor -1: both terms, as PyTorch
        return (np.abs(n((3, 4))) * 2.0, y), (0,)
    if name == "soft_margin_loss":
        return (2.0 * n((3, 4)), _signs(rng, (3, 4))), (0, 1)
    if name == "multilabel_soft_margin_loss":
        return (2.0 * n((2, 2, 5)), rng.uniform(size=(2, 2, 5))), (0, 1)
    if name == "multi_margin_loss":
        return (n((4, 5)), rng.integers(0, 5, (4,)).astype(np.int32)), (0,)
    if name == "multilabel_margin_loss":
        return (n((4, 5)), _multilabel_targets(rng, 4, 5)), (0,)
    if name == "cosine_embedding_loss":
        return (n((4, 3)), n((4, 3)), _signs(rng, (4,), np.int32)), (0, 1)
    return (n((4, 3)), n((4, 3)), n((4, 3))), (0, 1, 2)  # the triplet losses


GRID = {
    "margin_ranking_loss": [{}, {"margin": 0.5}, {"margin": -0.3, "where": MASK_34}],
    "hinge_embedding_loss": [{}, {"margin": 2.0}, {"margin": 0.5, "where": MASK_34}],
    "soft_margin_loss": [{}, {"where": MASK_34[0]}],
    "multilabel_soft_margin_loss": [
        {}, {"class_weights": W5}, {"class_weights": W5, "where": np.array([True, False])},
        # PyTorch's `weight` broadcasts to the input: per sample, per element
        {"class_weights": np.array([[[0.5], [2.0]], [[1.0], [0.1]]])},
        {"class_weights": np.linspace(0.1, 2.0, 20).reshape(2, 2, 5), "where": MASK_22},
        # the class axis in the middle: (2,) weights lie along it
        {"axis": 1, "class_weights": np.array([0.5, 2.0]), "where": MASK_25},
    ],
    "multi_margin_loss": [
        {}, {"p": 2}, {"p": 2, "margin": 0.7, "class_weights": W5},
        {"margin": 1.5, "class_weights": W5, "where": MASK_4},
    ],
    "multilabel_margin_loss": [{}, {"where": MASK_4}],
    "cosine_embedding_loss": [{}, {"margin": 0.3}, {"margin": -0.2, "where": MASK_4}],
    "triplet_margin_loss": [
        {}, {"swap": True}, {"p": 1, "margin": 0.5, "eps": 0.0},
        {"p": float("inf"), "margin": 3.0}, {"p": 3, "eps": 0.1, "swap": True, "where": MASK_4},
    ],
    "triplet_margin_with_distance_loss": [
        {}, {"swap": True, "margin": 2.0}, {"distance_function": _sq_l2, "margin": 1.5},
        {"distance_function": _cosine_distance, "swap": True, "margin": 0.5, "where": MASK_4},
    ],
}

GRID_CASES = [
    pytest.param(name, kwargs, id=f"{name}-{i}")
    for name, options in GRID.items()
    for i, kwargs in enumerate(options)
]


def _ref_kwargs(kwargs):
    out = dict(kwargs)
    if "distance_function" in out:
        out["distance_function"] = REF_DISTANCE[out["distance_function"]]
    return out


def test_every_margin_loss_is_in_the_grid():
    margin_losses = {
        n for n in jaxloss.__all__ if getattr(jaxloss, n).__module__ == "jaxloss._margin"
    }
    assert margin_losses == set(GRID) == set(TORCH_RECORDED)


@pytest.mark.parametrize("name, kwargs", GRID_CASES)
def test_values_match_reference(name, kwargs, mode):
    args, _ = _make(name, np.random.default_rng(0))
    f32 = [a.astype(np.float32) if a.dtype == np.float64 else a for a in args]

    def run(*a):
        return [getattr(jaxloss, name)(*a, **kwargs, reduction=r) for r in REDUCTIONS]

    got = maybe_jit(mode, run)(*f32)
    for r, g in zip(REDUCTIONS, got, strict=True):
        assert g.dtype == jnp.float32, (r, g.dtype)
        want = getattr(ref, name)(*f32, **_ref_kwargs(kwargs), reduction=r)
        assert np.shape(g) == np.shape(want), r
        assert_close(g, want)


@pytest.mark.parametrize("name, kwargs", GRID_CASES)
def test_gradients_match_reference(name, kwargs):
    """d/d(every float argument) of the "mean" loss, float64, against central differences."""
    args, argnums = _make(name, np.random.default_rng(1))
    with jax.enable_x64(True):

        def total(*floats):
            full = list(args)
            for i, v in zip(argnums, floats, strict=True):
                full[i] = v
            return getattr(jaxloss, name)(*full, **kwargs)

        grads = jax.jit(jax.grad(total, argnums=tuple(range(len(argnums)))))(
            *[args[i] for i in argnums]
        )
    for k, i in enumerate(argnums):

        def f(v, i=i):
            full = list(args)
            full[i] = v
            return float(getattr(ref, name)(*full, **_ref_kwargs(kwargs)))

        want = fd_grad(f, args[i])
        got = np.asarray(grads[k])
        assert np.all(np.isfinite(got)), (name, i)
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL, err_msg=str(i))


# ---------------------------------------------------------------------------------------------
# vmap over the numeric hyperparameters (margin, eps, class weights); p, swap are static
# ---------------------------------------------------------------------------------------------

HYPERS = [
    ("margin_ranking_loss", "margin", np.array([-0.5, 0.0, 0.8])),
    ("hinge_embedding_loss", "margin", np.array([0.5, 1.0, 2.0])),
    ("multi_margin_loss", "margin", np.array([0.3, 1.0, 2.0])),
    ("multi_margin_loss", "class_weights", np.stack([W5, 2 * W5, W5[::-1]])),
    ("multilabel_soft_margin_loss", "class_weights", np.stack([W5, 2 * W5, W5[::-1]])),
    ("multilabel_soft_margin_loss", "class_weights",  # per sample, (2, 2, 1)
     np.array([0.5, 1.0, 2.0, 0.2, 1.5, 0.7, 1.0, 1.0, 3.0, 0.1, 0.4, 2.2]).reshape(3, 2, 2, 1)),
    ("cosine_embedding_loss", "margin", np.array([-0.5, 0.0, 0.4])),
    ("triplet_margin_loss", "margin", np.array([0.1, 1.0, 3.0])),
    ("triplet_margin_loss", "eps", np.array([0.0, 1e-6, 0.3])),
    ("triplet_margin_with_distance_loss", "margin", np.array([0.1, 1.0, 3.0])),
]


@pytest.mark.parametrize("name, hyper, values", HYPERS, ids=[f"{n}-{h}" for n, h, _ in HYPERS])
def test_vmap_over_hyperparameters(name, hyper, values):
    args, _ = _make(name, np.random.default_rng(2))
    args = [a.astype(np.float32) if a.dtype == np.float64 else a for a in args]
    values = values.astype(np.float32)
    got = jax.jit(jax.vmap(lambda v: getattr(jaxloss, name)(*args, **{hyper: v})))(values)
    for g, v in zip(got, values, strict=True):
        assert_close(g, getattr(ref, name)(*args, **{hyper: v}))


# ---------------------------------------------------------------------------------------------
# dtypes, numerics at the edges
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GRID))
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_inputs_compute_in_float32(name, dtype):
    args, argnums = _make(name, np.random.default_rng(3))
    half = [jnp.asarray(a, dtype) if a.dtype == np.float64 else a for a in args]
    rounded = [np.asarray(h, np.float64) if i in argnums else a
               for i, (h, a) in enumerate(zip(half, args, strict=True))]

    def total(*floats):
        full = list(half)
        for i, v in zip(argnums, floats, strict=True):
            full[i] = v
        return getattr(jaxloss, name)(*full)

    value, grads = jax.jit(jax.value_and_grad(total, argnums=tuple(range(len(argnums)))))(
        *[half[i] for i in argnums]
    )
    assert value.dtype == jnp.float32
    np.testing.assert_allclose(value, getattr(ref, name)(*rounded), rtol=1e-5, atol=1e-6)
    for g in grads:
        assert g.dtype == dtype
        assert bool(jnp.all(jnp.isfinite(g)))


def test_soft_margin_is_exact_where_torch_float32_overflows():
    """log(1 + exp(100)) is inf in PyTorch's float32 (and its gradient NaN); here it is 100."""
    x = jnp.array([-100.0, 100.0, -1e4], jnp.float32)
    y = jnp.ones(3, jnp.float32)
    loss = jaxloss.soft_margin_loss(x, y, reduction="none")
    np.testing.assert_allclose(loss, [100.0, 0.0, 1e4], rtol=1e-6)
    g = jax.grad(lambda x: jaxloss.soft_margin_loss(x, y, reduction="sum"))(x)
    np.testing.assert_allclose(g, [-1.0, 0.0, -1.0], atol=1e-30)


def test_multilabel_soft_margin_is_finite_at_saturated_logits():
    x = jnp.array([[-200.0, 200.0, 0.0]])
    y = jnp.array([[1.0, 0.0, 0.5]])
    value, g = jax.value_and_grad(jaxloss.multilabel_soft_margin_loss)(x, y)
    np.testing.assert_allclose(value, ref.multilabel_soft_margin_loss(x, y), rtol=1e-6)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_zero_vectors_have_finite_gradients():
    """cosine of a zero vector is 0 (ATen's 1e-12), a zero triplet difference has norm 0."""
    z = jnp.zeros((2, 3))
    for f in (
        lambda a: jaxloss.cosine_embedding_loss(a, z, jnp.array([1, -1]), margin=-0.5),
        lambda a: jaxloss.triplet_margin_loss(a, z, z + 1.0, eps=0.0, margin=5.0),
        lambda a: jaxloss.triplet_margin_loss(a, z, z + 1.0, eps=0.0, margin=5.0, p=3),
        lambda a: jaxloss.triplet_margin_loss(a, z, z + 1.0, eps=0.0, margin=5.0, p=1),
    ):
        g = jax.grad(f)(z)
        assert bool(jnp.all(jnp.isfinite(g)))


# ---------------------------------------------------------------------------------------------
# labels only known under jit; where; special cases and invariants
# ---------------------------------------------------------------------------------------------


def test_traced_out_of_range_labels_give_nan_for_that_sample():
    x = jnp.asarray(np.random.default_rng(4).standard_normal((3, 4)), jnp.float32)
    mm = jax.jit(lambda x, y: jaxloss.multi_margin_loss(x, y, reduction="none"))
    out = mm(x, jnp.array([1, 4, -1]))
    assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])
    mlm = jax.jit(lambda x, t: jaxloss.multilabel_margin_loss(x, t, reduction="none"))
    # a bad value after the terminator counts too (PyTorch checks the whole target)
    out = mlm(x, jnp.array([[0, -1, 0, 0], [1, -1, 7, 0], [-2, 0, 0, 0]]))
    assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])
    # a masked-out sample is not poisoned
    masked = jax.jit(lambda x, y: jaxloss.multi_margin_loss(
        x, y, where=jnp.array([True, False, False])))(x, jnp.array([1, 4, -1]))
    assert_close(masked, ref.multi_margin_loss(np.asarray(x)[:1], [1]))


def test_multilabel_margin_reads_the_list_up_to_the_first_minus_one():
    x = np.random.default_rng(5).standard_normal((2, 5)).astype(np.float32)
    t1 = np.array([[3, 1, -1, 0, 2], [4, -1, 4, 4, 4]], np.int32)
    t2 = np.array([[1, 3, -1, -1, -1], [4, -1, 0, 1, 2]], np.int32)  # same sets, other tails
    assert_close(jaxloss.multilabel_margin_loss(x, t1, reduction="none"),
                 jaxloss.multilabel_margin_loss(x, t2, reduction="none"))
    # every class listed, or no class listed: 0
    full = np.array([[0, 1, 2, 3, 4], [-1, 0, 1, 2, 3]], np.int32)
    np.testing.assert_array_equal(jaxloss.multilabel_margin_loss(x, full, reduction="none"), 0.0)


@pytest.mark.parametrize("name", list(GRID))
def test_where_equals_the_kept_subset(name):
    args, _ = _make(name, np.random.default_rng(6))
    per_sample_shape = np.shape(getattr(ref, name)(*args, reduction="none"))
    keep = np.zeros(per_sample_shape, bool).reshape(-1)
    keep[::2] = True
    keep = keep.reshape(per_sample_shape)
    got = getattr(jaxloss, name)(*[a.astype(np.float32) if a.dtype == np.float64 else a
                                   for a in args], where=keep)
    per = getattr(ref, name)(*args, reduction="none")
    assert_close(got, np.mean(per[keep]))
    empty = getattr(jaxloss, name)(*args, where=np.zeros(per_sample_shape, bool))
    assert float(empty) == 0.0


def test_special_cases():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    x2 = rng.standard_normal((4, 3)).astype(np.float32)
    x3 = rng.standard_normal((4, 3)).astype(np.float32)
    ones = np.ones((4, 3), np.float32)
    # hinge_embedding with every y = 1 is the mean of x
    assert_close(jaxloss.hinge_embedding_loss(x, ones), x.mean())
    # soft margin is BCE-with-logits with (y + 1) / 2 targets for y in {-1, 1}
    y = np.where(x2 > 0, 1.0, -1.0).astype(np.float32)
    assert_close(jaxloss.soft_margin_loss(x, y),
                 jaxloss.binary_cross_entropy_with_logits(x, (y + 1) / 2))
    # multilabel_soft_margin with all-ones class weights is the unweighted loss
    p = rng.uniform(size=(4, 3)).astype(np.float32)
    assert_close(jaxloss.multilabel_soft_margin_loss(x, p, class_weights=np.ones(3, np.float32)),
                 jaxloss.multilabel_soft_margin_loss(x, p))
    # the default distance is triplet_margin_loss's (p = 2, eps = 1e-6)
    assert_close(jaxloss.triplet_margin_with_distance_loss(x, x2, x3, swap=True),
                 jaxloss.triplet_margin_loss(x, x2, x3, swap=True))
    # cosine_embedding is scale invariant
    t = np.array([1, -1, 1, -1], np.int32)
    assert_close(jaxloss.cosine_embedding_loss(3.0 * x, x2, t, margin=0.1),
                 jaxloss.cosine_embedding_loss(x, x2, t, margin=0.1))


CLASS_AXIS_LOSSES = ["multilabel_soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss"]


@pytest.mark.parametrize("name", CLASS_AXIS_LOSSES)
@pytest.mark.parametrize("axis", [0, 1, -2])
def test_class_axis_is_moving_it_last(name, axis):
    """``axis=k`` on an input whose classes sit at axis k equals the default (classes last,
    PyTorch's layout) on the moved input: each reduction, with class weights and a mask, the
    reference with the same ``axis``, and the gradient (moved back)."""
    rng = np.random.default_rng(11)
    fn, ref_fn = getattr(jaxloss, name), getattr(ref, name)
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    if name == "multi_margin_loss":
        t = rng.integers(0, 5, (2, 3)).astype(np.int32)
        t_moved = t  # no class axis
    else:
        t = (_multilabel_targets(rng, 6, 5).reshape(2, 3, 5) if name == "multilabel_margin_loss"
             else rng.uniform(size=(2, 3, 5)).astype(np.float32))
        t_moved = np.moveaxis(t, -1, axis)
    x_moved = np.moveaxis(x, -1, axis)
    kw = {} if name == "multilabel_margin_loss" else {"class_weights": W5.astype(np.float32)}
    where = np.array([[True, False, True], [True, True, False]])
    for r in REDUCTIONS:
        got = fn(x_moved, t_moved, axis=axis, reduction=r, where=where, **kw)
        assert got.shape == ((2, 3) if r == "none" else ())
        assert_close(got, fn(x, t, reduction=r, where=where, **kw), rtol=1e-6)
        assert_close(got, ref_fn(x_moved, t_moved, axis=axis, reduction=r, where=where, **kw))
    g_moved = jax.grad(lambda a: fn(a, t_moved, axis=axis, **kw))(x_moved)
    g = jax.grad(lambda a: fn(a, t, **kw))(x)
    np.testing.assert_allclose(g_moved, np.moveaxis(np.asarray(g), -1, axis), rtol=1e-6)


def test_vector_and_scalar_inputs_take_pytorchs_shapes():
    """PyTorch's (C,) and 0-d forms (TORCH_RECORDED pins their values): "none" has the
    target's shape for multi_margin_loss, () or (1,), and is a scalar for
    multilabel_margin_loss; a 0-d input is one sample of one class, loss 0 and gradient 0."""
    x = np.array([0.5, -1.2, 2.0, 0.3], np.float32)
    one = jaxloss.multi_margin_loss(x[None], np.array([2], np.int32), reduction="none")
    assert jaxloss.multi_margin_loss(x, np.int32(2), reduction="none").shape == ()
    out = jaxloss.multi_margin_loss(x, np.array([2], np.int32), reduction="none")
    assert out.shape == (1,)
    assert_close(out, one, rtol=0, atol=0)
    assert_close(jaxloss.multi_margin_loss(x, np.int32(2)), one[0], rtol=0, atol=0)
    listed = np.array([2, 0, -1, 1], np.int32)
    got = jaxloss.multilabel_margin_loss(x, listed, reduction="none")
    assert got.shape == ()
    assert_close(got, jaxloss.multilabel_margin_loss(x[None], listed[None])[()], rtol=0, atol=0)
    for fn, label in ((jaxloss.multi_margin_loss, 0), (jaxloss.multilabel_margin_loss, 0),
                      (jaxloss.multilabel_margin_loss, -1)):
        for target in (np.int32(label), np.array([label], np.int32)):
            value, grad = jax.value_and_grad(lambda a, f=fn, t=target: jnp.sum(f(a, t)))(
                np.float32(0.7))
            assert value == 0.0 and grad == 0.0
    with pytest.raises(ValueError, match=r"`target` must be class indices in \[0, 1\), got 1"):
        jaxloss.multi_margin_loss(np.float32(0.7), np.int32(1))


def test_checked_raises_for_a_traced_out_of_range_label():
    x = jnp.zeros((2, 4))
    f = jax.jit(jaxloss.checked(lambda x, y: jaxloss.multi_margin_loss(x, y)))
    with pytest.raises(jax.errors.JaxRuntimeError,
                       match=r"multi_margin_loss: `target` must be class indices in \[0, 4\), "
                             r"got 4 at index \(1,\)\."):
        f(x, jnp.array([0, 4]))


@given(
    st.integers(2, 6).flatmap(
        lambda c: st.tuples(
            st.lists(st.integers(-4, 4), min_size=c, max_size=c),
            st.lists(st.integers(-1, c - 1), min_size=c, max_size=c),
        )
    )
)
def test_multilabel_margin_sorting_matches_pytorchs_kernel_at_ties(row):
    """Scores on a grid of 0.5 make ties and hinges exactly at 0 common: the sort-based sums
    give PyTorch's kernel's value and gradient (a term counts only where it is > 0)."""
    scores, labels = row
    x = np.asarray(scores, np.float64) / 2.0
    t = np.asarray(labels, np.int32)
    c = len(x)
    listed = []
    for label in t:
        if label < 0:
            break
        listed.append(int(label))
    want_grad = np.zeros(c)
    for j in listed:
        for i in range(c):
            if i not in listed and 1.0 - x[j] + x[i] > 0:
                want_grad[j] -= 1.0 / c
                want_grad[i] += 1.0 / c
    with jax.enable_x64(True):
        value, grad = jax.value_and_grad(jaxloss.multilabel_margin_loss)(x, t)
    np.testing.assert_allclose(value, ref.multilabel_margin_loss(x, t), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-12)
