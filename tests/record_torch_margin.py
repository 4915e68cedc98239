"""Records PyTorch's values (and gradients at the hinges) for tests/test_margin.py.

Run by hand with torch installed (``pip install torch==2.13.0``; torch is not a test
dependency):

    python tests/record_torch_margin.py | ruff format - > /tmp/recorded.py

and paste the two printed dicts, ``TORCH_RECORDED`` and ``TORCH_KINK_GRADS``, over those in
tests/test_margin.py. Every case is written as the jaxloss call (positional arrays as nested
lists, Python ints for integer labels, jaxloss keyword names); ``_torch_call`` turns it into
the ``torch.nn.functional`` call (``class_weights`` -> ``weight``). float64 throughout.
"""

from __future__ import annotations

# torch is imported inside the functions: pytest's --doctest-modules imports this module, and
# torch is not a test dependency.

# Small shared inputs: 3 samples, 4 classes or features.
A = [[0.5, -1.2, 2.0, 0.3], [1.5, 0.2, -0.7, -2.1], [-0.4, 0.9, 0.0, 1.1]]
B = [[1.0, 0.4, -0.3, 0.8], [-0.5, 0.2, 1.9, -1.0], [0.6, -1.5, 0.7, 0.1]]
C = [[0.2, -0.6, 1.4, -0.9], [0.8, 1.1, -0.2, 0.3], [-1.3, 0.4, 0.5, 2.2]]
SIGN = [[1.0, -1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, 1.0]]
SIGN_INT = [[1, -1, 1, -1], [-1, -1, 1, 1], [1, 1, -1, 1]]
SIGN_ODD = [[1, -1, 0, -1], [2, -1, 1, 1], [1, 1, -1, 0]]  # 0 and 2: neither 1 nor -1
DIST = [[0.5, 1.2, 2.0, 0.3], [1.5, 0.2, 0.7, 2.1], [0.4, 0.9, 0.0, 1.1]]
PROBS = [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9, 0.0, 1.0], [0.5, 0.5, 0.1, 0.7]]
LABELS = [2, 0, 3]
MULTILABEL = [[2, 0, -1, 1], [3, 3, -1, 0], [1, 2, 3, 0]]  # a repeat; a full list
W = [0.5, 1.0, 2.0, 1.5]
W_34 = [[0.5, 1.0, 2.0, 1.5], [1.0, 0.2, 0.7, 3.0], [2.5, 1.0, 0.1, 0.4]]


def _t(rows):
    """The transpose of a nested list: the class axis first (axis=0 cases)."""
    return [list(col) for col in zip(*rows, strict=True)]


def _class_axis_1(batch):
    """(N, L, C) nested lists -> (N, C, L): the class axis second (axis=1 cases)."""
    return [_t(rows) for rows in batch]


CASES = {
    "margin_ranking_loss": [
        ((A[0], B[0], SIGN[0]), {}),
        ((A, B, SIGN), {"margin": 0.5, "reduction": "none"}),
        ((A, B, SIGN), {"margin": 0.3, "reduction": "sum"}),
    ],
    "hinge_embedding_loss": [
        ((DIST, SIGN_INT), {}),
        ((DIST, SIGN), {"margin": 2.0, "reduction": "none"}),
        ((A, SIGN_ODD), {"margin": 0.5, "reduction": "none"}),
    ],
    "soft_margin_loss": [
        ((A, SIGN), {}),
        ((A, SIGN_INT), {"reduction": "none"}),
        (([[-100.0, 100.0, 0.0]], [[1.0, 1.0, -1.0]]), {"reduction": "sum"}),
    ],
    "multilabel_soft_margin_loss": [
        ((A, PROBS), {}),
        ((A, PROBS), {"class_weights": W, "reduction": "none"}),
        ((B, SIGN_INT), {"reduction": "sum"}),  # PyTorch uses any target value as given
        # weight broadcast to (N, C) as PyTorch's `loss * weight`: per sample, per element,
        # a (1, C) row, a scalar
        ((A, PROBS), {"class_weights": [[0.5], [1.0], [2.0]]}),
        ((A, PROBS), {"class_weights": W_34, "reduction": "none"}),
        ((B, PROBS), {"class_weights": [W], "reduction": "sum"}),
        ((A, PROBS), {"class_weights": 1.5, "reduction": "none"}),
        # the class axis first, and the second of a 3-d input
        ((_t(A), _t(PROBS)), {"axis": 0, "class_weights": W, "reduction": "none"}),
        ((_class_axis_1([A, B]), _class_axis_1([PROBS, PROBS])),
         {"axis": 1, "class_weights": W, "reduction": "none"}),
    ],
    "multi_margin_loss": [
        ((A, LABELS), {}),
        ((A, LABELS), {"p": 2, "reduction": "none"}),
        ((A, LABELS), {"p": 2, "margin": 0.7, "class_weights": W}),
        ((B, LABELS), {"class_weights": W, "reduction": "sum"}),
        ((A[0], 2), {"margin": 2.0, "reduction": "none"}),
        # PyTorch's vector forms: a (C,) input with a (1,) target ("none" is (1,)), a 0-d
        # input (one sample of one class: 0)
        ((A[1], [0]), {"p": 2, "reduction": "none"}),
        ((A[2], [3]), {"class_weights": W}),
        ((0.7, 0), {"reduction": "none"}),
        ((0.7, [0]), {"reduction": "none"}),
        ((0.7, 0), {"class_weights": [2.0], "margin": 0.5, "reduction": "sum"}),
        # the class axis first, and the second of a 3-d input
        ((_t(A), LABELS), {"axis": 0, "p": 2, "class_weights": W, "reduction": "none"}),
        ((_class_axis_1([A, B]), [LABELS, [1, 1, 0]]), {"axis": 1, "reduction": "none"}),
        (([A, B], [LABELS, [1, 1, 0]]), {"axis": -1, "margin": 0.5, "reduction": "sum"}),
    ],
    "multilabel_margin_loss": [
        ((A, MULTILABEL), {}),
        ((B, MULTILABEL), {"reduction": "none"}),
        ((C[1], MULTILABEL[0]), {"reduction": "none"}),
        # a 0-d input (one sample of one class) and a (1,) input with a 0-d target: 0
        ((0.7, 0), {"reduction": "none"}),
        ((0.7, -1), {}),
        ((0.7, [0]), {"reduction": "sum"}),
        (([0.3], 0), {}),
        # the class axis first, and the second of a 3-d input
        ((_t(A), _t(MULTILABEL)), {"axis": 0, "reduction": "none"}),
        ((_class_axis_1([A, C]), _class_axis_1([MULTILABEL, MULTILABEL[::-1]])),
         {"axis": 1, "reduction": "none"}),
    ],
    "cosine_embedding_loss": [
        ((A, B, [1, -1, -1]), {}),
        ((A, C, [1.0, -1.0, -1.0]), {"margin": 0.2, "reduction": "none"}),
        ((B, C, [1, 0, -1]), {"margin": -0.5, "reduction": "sum"}),
        ((A[0], B[0], -1), {"reduction": "none"}),
    ],
    "triplet_margin_loss": [
        ((A, B, C), {}),
        ((A, B, C), {"swap": True, "margin": 2.0, "reduction": "none"}),
        ((A, C, B), {"p": 1, "margin": 0.5, "eps": 0.0, "reduction": "none"}),
        ((A, B, C), {"p": float("inf"), "margin": 3.0, "reduction": "sum"}),
        ((B, A, C), {"p": 3, "margin": 2.5, "eps": 0.1, "reduction": "none"}),
    ],
    "triplet_margin_with_distance_loss": [
        ((A, B, C), {"margin": 2.0}),
        ((C, A, B), {"swap": True, "margin": 3.0, "reduction": "none"}),
    ],
}

# Non-differentiable points: (args, kwargs, gradient of the summed "none" loss with respect
# to each float argument). The comments say which hinge sits exactly at 0.
KINK_CASES = {
    # -y (x1 - x2) + margin = 0 in element 0 (margin 1) and element 1 (margin 0)
    "margin_ranking_loss": [
        (([1.0, 0.5, 2.0], [0.0, 0.5, 0.0], [1.0, 1.0, -1.0]), {"margin": 1.0}),
        (([1.0, 0.5, 2.0], [0.0, 0.5, 0.0], [1.0, 1.0, -1.0]), {}),
    ],
    # margin - x = 0 for y = -1 in element 0
    "hinge_embedding_loss": [
        (([1.0, 1.0, 0.3, 0.3, -2.0], [-1, 1, 0, 2, -1]), {}),
    ],
    # margin - x_y + x_1 = 0
    "multi_margin_loss": [
        (([[1.0, 0.0, 0.5]], [0]), {}),
        (([[1.0, 0.0, 0.5]], [0]), {"p": 2}),
    ],
    "multilabel_margin_loss": [
        (([[1.0, 0.0, 0.5]], [[0, -1, 0]]), {}),
    ],
    # cos = margin = 0 for y = -1
    "cosine_embedding_loss": [
        (([[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [2.0, 0.5]], [-1, 1]), {}),
    ],
    "triplet_margin_loss": [
        # margin + d(a, p) - d(a, n) = 0
        (([[0.0, 0.0]], [[1.0, 0.0]], [[2.0, 0.0]]), {"eps": 0.0}),
        # swap with d(a, n) = d(p, n) exactly
        (([[0.0, 0.0]], [[2.0, 0.0]], [[1.0, 1.0]]), {"eps": 0.0, "swap": True}),
        # a = p, eps = 0: the norm of a zero vector
        (([[1.0, 2.0]], [[1.0, 2.0]], [[0.0, 0.0]]), {"eps": 0.0, "margin": 5.0}),
        (([[1.0, 2.0]], [[1.0, 2.0]], [[0.0, 0.0]]), {"eps": 0.0, "margin": 5.0, "p": 1}),
    ],
}


def _tensor(v):
    import torch

    t = torch.tensor(v)
    return torch.tensor(v, dtype=torch.float64) if t.is_floating_point() else t.to(torch.int64)


def _torch_call(name, args, kwargs, requires_grad=False):
    import torch.nn.functional as F

    tensors = [_tensor(a) for a in args]
    if requires_grad:
        for t in tensors:
            if t.is_floating_point():
                t.requires_grad_(True)
    kw = dict(kwargs)
    if "class_weights" in kw:
        kw["weight"] = _tensor(kw.pop("class_weights"))
    # soft_margin_loss does not differentiate its target: keep it a constant
    if name == "soft_margin_loss" and requires_grad:
        tensors[1].requires_grad_(False)
    if "axis" in kw:  # jaxloss's class axis: PyTorch's layout is (N, C), the classes last
        return tensors, _class_axis_call(F, name, tensors, kw, kw.pop("axis"))
    return tensors, getattr(F, name)(*tensors, **kw)


def _class_axis_call(F, name, tensors, kw, axis):
    """The PyTorch call of a jaxloss call with the class axis at ``axis``: the class axis
    moved last (in a target that has it too, and in a weight of the input's rank), and the
    batch flattened to (N, C) for the ATen kernels, which take no other shape."""
    x, target = tensors[0], tensors[1]
    shape = x.shape
    x = x.movedim(axis, -1)
    if name != "multi_margin_loss":  # the target has the class axis
        target = target.movedim(axis, -1)
    weight = kw.get("weight")
    if weight is not None and weight.ndim > 1:
        kw["weight"] = weight.expand(shape).movedim(axis, -1)
    if name == "multilabel_soft_margin_loss":
        return F.multilabel_soft_margin_loss(x, target, **kw)
    batch = x.shape[:-1]
    out = getattr(F, name)(x.reshape(-1, x.shape[-1]), target.reshape(-1, *target.shape[
        len(batch):]), **kw)
    return out.reshape(batch) if kw.get("reduction") == "none" else out


def _plain(t):
    return t.detach().tolist()


def record():
    values = {}
    for name, cases in CASES.items():
        values[name] = [
            (args, kwargs, _plain(_torch_call(name, args, kwargs)[1]))
            for args, kwargs in cases
        ]
    grads = {}
    for name, cases in KINK_CASES.items():
        grads[name] = []
        for args, kwargs in cases:
            kw = {**kwargs, "reduction": "none"}
            tensors, out = _torch_call(name, args, kw, requires_grad=True)
            out.sum().backward()
            g = [_plain(t.grad) for t in tensors if t.requires_grad]
            grads[name].append((args, kw, g))
    return values, grads


if __name__ == "__main__":
    import torch

    values, grads = record()
    print(f"# recorded with torch {torch.__version__} by tests/record_torch_margin.py")
    for name, table in (("TORCH_RECORDED", values), ("TORCH_KINK_GRADS", grads)):
        print(f"{name} = " + repr(table).replace(": inf", ': float("inf")') + "\n")
