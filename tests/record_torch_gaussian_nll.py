"""Records PyTorch 2.13's OpInfo samples of ``F.gaussian_nll_loss`` for tests/test_regression.py.

Run by hand in a venv with torch (torch is not a dependency of jaxloss or of its tests):

    python -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy expecttest
    /tmp/torchvenv/bin/python tests/record_torch_gaussian_nll.py

It writes ``tests/data/torch_gaussian_nll_opinfo.npz``: every sample that
``torch.testing._internal.common_methods_invocations.sample_inputs_gaussian_nll_loss`` yields
(the inputs PyTorch's own OpInfo tests run: input shapes (5,), (5, 5), (5, 5, 5); ``target``
and ``var`` each of the input's shape, with a last axis of 1, or without the last axis; full
and eps; each reduction), 324 in all, drawn in float32 as PyTorch's tests draw them
(``OpInfo.sample_inputs`` reseeds before each sample, so the samples of one shape share
their values; the shapes and options are what is being tested). For each
sample, in order, it holds ``input``, ``target``, ``var`` (float32, as drawn), ``out``
(PyTorch's loss on those values cast to float64) and, where ``has_grad`` (inputs of rank <= 2:
the file stays small), ``grad_input``, ``grad_target``, ``grad_var``, the float64 gradients
of the loss's sum. Each is one flat array of the samples' values concatenated (one file
entry each keeps the file small), with the shapes in ``{name}_shape`` (one row per sample,
padded with -1; a gradient has its argument's shape); ``reduction``, ``full`` and ``eps`` are
arrays over the samples. Importing this module does nothing (the test collection imports it).
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).with_name("data") / "torch_gaussian_nll_opinfo.npz"
GRAD_MAX_RANK = 2
MAX_RANK = 3
FLOATS = ("input", "target", "var")
GRADS = ("grad_input", "grad_target", "grad_var")


def main() -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch.testing._internal.common_methods_invocations import op_db

    op = next(o for o in op_db if o.name == "nn.functional.gaussian_nll_loss")
    samples = list(op.sample_inputs("cpu", torch.float32, requires_grad=False))
    flat: dict[str, list[np.ndarray]] = {k: [] for k in FLOATS + ("out",) + GRADS}
    shapes: dict[str, list[list[int]]] = {k: [] for k in FLOATS + ("out",)}
    reductions, fulls, epss, has_grad = [], [], [], []
    for sample in samples:
        target, var = sample.args
        kwargs = dict(sample.kwargs)
        given = (sample.input, target, var)
        floats = [t.detach().to(torch.float64).requires_grad_(True) for t in given]
        out = F.gaussian_nll_loss(*floats, **kwargs)
        for name, t in zip(FLOATS + ("out",), (*given, out), strict=True):
            a = t.detach().numpy()
            flat[name].append(a.astype(np.float32 if name != "out" else np.float64).ravel())
            shapes[name].append(list(a.shape) + [-1] * (MAX_RANK - a.ndim))
        has_grad.append(sample.input.ndim <= GRAD_MAX_RANK)
        if has_grad[-1]:
            grads = torch.autograd.grad(out.sum(), floats)
            for name, g in zip(GRADS, grads, strict=True):
                flat[name].append(g.numpy().ravel())
        reductions.append(kwargs.get("reduction", "mean"))
        fulls.append(bool(kwargs.get("full", False)))
        epss.append(float(kwargs.get("eps", 1e-6)))
    arrays = {k: np.concatenate(v) for k, v in flat.items()}
    arrays.update({f"{k}_shape": np.array(v, np.int64) for k, v in shapes.items()})
    arrays.update(reduction=np.array(reductions), full=np.array(fulls), eps=np.array(epss),
                  has_grad=np.array(has_grad), torch_version=np.array(torch.__version__))
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"{len(samples)} samples from torch {torch.__version__} -> {OUT} "
          f"({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
