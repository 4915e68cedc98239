"""Vocabulary parallelism (``class_axis_name``) on a 2 x 2 ("data", "model") mesh of forced
CPU devices: value, gradients, argmax and logsumexp equal the unsharded call. Run by
tests/test_vocab_parallel.py in a subprocess; prints one ``OK <case>`` line per case."""

from functools import partial

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jaxloss

TOL = 2e-5
mesh = None  # set by main(): the module is also imported by pytest's doctest collection


def put(value, spec):
    return jax.device_put(value, NamedSharding(mesh, spec))


def with_arrays(static, given, **arrays):
    """``static`` plus those of ``arrays`` (traced inside shard_map) the case sets."""
    return {**static, **{key: value for key, value in arrays.items() if key in given}}


def check(name, got, want):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        err = float(jnp.max(jnp.abs(jnp.asarray(a, jnp.float32) - jnp.asarray(b, jnp.float32))))
        assert err <= TOL * (1.0 + float(jnp.max(jnp.abs(jnp.asarray(b, jnp.float32))))), (
            name, err)
    print("OK", name, flush=True)


def softmax_losses():
    n, c = 12, 10
    k = jax.random.split(jax.random.key(0), 6)
    x = jax.random.normal(k[0], (n, c)) * 3
    y = jax.random.randint(k[1], (n,), 0, c).at[2].set(-100).at[5].set(-100)
    cw = jax.random.uniform(k[2], (c,)) + 0.5
    q = jax.nn.softmax(jax.random.normal(k[3], (n, c)))
    m = jax.random.uniform(k[4], (n,)) > 0.3
    x3 = jax.random.normal(k[5], (4, c, 6))
    y3 = jax.random.randint(k[1], (4, 6), 0, c)
    xs = P("data", "model")
    cases = [
        ("cross_entropy plain", jaxloss.cross_entropy, x, y, {}, P("data")),
        ("cross_entropy smoothing+weights+ignore+z_loss", jaxloss.cross_entropy, x, y,
         {"label_smoothing": 0.1, "class_weights": cw, "z_loss": 1e-2}, P("data")),
        ("cross_entropy where, sum", jaxloss.cross_entropy, x, y,
         {"where": m, "reduction": "sum"}, P("data")),
        ("focal_loss smoothing+weights", jaxloss.focal_loss, x, y,
         {"gamma": 2.0, "label_smoothing": 0.1, "class_weights": cw}, P("data")),
        ("cross_entropy probability targets", jaxloss.cross_entropy, x, q,
         {"label_smoothing": 0.1, "class_weights": cw, "z_loss": 1e-2}, xs),
        ("focal_loss probability targets", jaxloss.focal_loss, x, q, {"gamma": 1.5}, xs),
        ("cross_entropy channel-first axis=1", jaxloss.cross_entropy, x3, y3,
         {"axis": 1, "label_smoothing": 0.2}, P("data")),
    ]
    for name, f, a, t, kw, ts in cases:
        extra = {key: kw[key] for key in ("class_weights", "where") if key in kw}
        static = {key: val for key, val in kw.items() if key not in extra}
        want = jax.value_and_grad(lambda a, f=f, t=t, kw=kw: f(a, t, **kw).sum())(a)
        cwv = extra.get("class_weights", jnp.ones(c))
        mv = extra.get("where", jnp.ones(a.shape[0], bool))

        @jax.jit
        @partial(jax.shard_map, mesh=mesh, in_specs=(xs, ts, P(), P("data")),
                 out_specs=(P(), xs))
        def sharded(a, t, cwv, mv, f=f, extra=extra, static=static):
            kw = with_arrays(static, extra, class_weights=cwv, where=mv)
            return jax.value_and_grad(
                lambda a: f(a, t, axis_name="data", class_axis_name="model", **kw).sum()
            )(a)

        got = sharded(put(a, xs), put(t, ts), put(cwv, P()), put(mv, P("data")))
        check(name, got, want)


def log_softmax(a, class_axis_name):
    """log_softmax over the last axis; over every device's classes with class_axis_name."""
    total = jnp.sum(jnp.exp(a), axis=-1, keepdims=True)
    if class_axis_name is not None:
        total = jax.lax.psum(total, class_axis_name)
    return a - jnp.log(total)


def more_softmax_losses():
    """nll_loss, the imbalance losses and distillation_loss (student and teacher both
    class-sharded; gradients for both) equal their unsharded calls."""
    n, c = 12, 10
    k = jax.random.split(jax.random.key(7), 6)
    x = jax.random.normal(k[0], (n, c)) * 3
    teacher = jax.random.normal(k[1], (n, c)) * 2
    y = jax.random.randint(k[2], (n,), 0, c).at[3].set(-100)
    q = jax.nn.softmax(jax.random.normal(k[3], (n, c)))
    cw = jax.random.uniform(k[4], (c,)) + 0.5
    m = jax.random.uniform(k[5], (n,)) > 0.3
    counts = jnp.arange(1, c + 1) * 7
    priors = counts / counts.sum()
    xs, rs = P("data", "model"), P("data")
    cases = [
        ("nll_loss weights+where", lambda a, b, t, mv, **kw: jaxloss.nll_loss(
            log_softmax(a, kw.get("class_axis_name")), t, class_weights=cw, where=mv, **kw),
         y, rs),
        ("logit_adjusted_cross_entropy smoothing", lambda a, b, t, mv, **kw:
            jaxloss.logit_adjusted_cross_entropy(a, t, class_counts=priors, tau=0.7,
                                                 label_smoothing=0.1, where=mv, **kw), y, rs),
        ("logit_adjusted_cross_entropy probabilities", lambda a, b, t, mv, **kw:
            jaxloss.logit_adjusted_cross_entropy(a, t, class_counts=priors, class_weights=cw,
                                                 **kw), q, xs),
        ("ldam_loss", lambda a, b, t, mv, **kw: jaxloss.ldam_loss(
            a, t, class_counts=counts, class_weights=cw, scale=5.0, where=mv, **kw), y, rs),
        ("poly1_cross_entropy smoothing", lambda a, b, t, mv, **kw:
            jaxloss.poly1_cross_entropy(a, t, epsilon=1.5, label_smoothing=0.1,
                                        class_weights=cw, **kw), y, rs),
        ("poly1_cross_entropy probabilities", lambda a, b, t, mv, **kw:
            jaxloss.poly1_cross_entropy(a, t, epsilon=1.5, **kw), q, xs),
        ("distillation_loss soft", lambda a, b, t, mv, **kw: jaxloss.distillation_loss(
            a, b, temperature=2.0, where=mv, **kw), y, rs),
        ("distillation_loss soft+hard", lambda a, b, t, mv, **kw: jaxloss.distillation_loss(
            a, b, temperature=3.0, targets=t, lambda_soft=0.7, lambda_hard=0.3, **kw), y, rs),
    ]
    for name, f, t, ts in cases:
        want = jax.value_and_grad(lambda a, b, f=f, t=t: f(a, b, t, m), argnums=(0, 1))(
            x, teacher)

        @jax.jit
        @partial(jax.shard_map, mesh=mesh, in_specs=(xs, xs, ts, P("data")),
                 out_specs=(P(), (xs, xs)))
        def sharded(a, b, t, mv, f=f):
            return jax.value_and_grad(lambda a, b: f(
                a, b, t, mv, axis_name="data", class_axis_name="model"), argnums=(0, 1))(a, b)

        got = sharded(put(x, xs), put(teacher, xs), put(t, ts), put(m, P("data")))
        check(name, got, want)


def linear():
    n, d, v = 12, 5, 22
    k = jax.random.split(jax.random.key(1), 6)
    h = jax.random.normal(k[0], (n, d))
    w = jax.random.normal(k[1], (v, d))
    b = jax.random.normal(k[2], (v,))
    y = jax.random.randint(k[3], (n,), 0, v).at[2].set(-100)
    cw = jax.random.uniform(k[4], (v,)) + 0.5
    tok = jax.random.uniform(k[5], (n,))
    options = [
        {},
        {"label_smoothing": 0.1, "class_weights": cw, "z_loss": 1e-3, "softcap": 3.0},
        {"reduction": "sum", "weights": tok},
    ]
    for layout in ("vd", "dv"):
        wl = w if layout == "vd" else w.T
        ws = P("model") if layout == "vd" else P(None, "model")
        for opts in options:
            cwv = opts.get("class_weights", jnp.ones(v))
            tv = opts.get("weights", jnp.ones(n))
            static = {key: val for key, val in opts.items() if key not in ("class_weights",
                                                                          "weights")}

            def loss(h, wl, b, y, cwv, tv, opts=opts, static=static, layout=layout, **names):
                kw = with_arrays(static, opts, class_weights=cwv, weights=tv)
                return jaxloss.linear_cross_entropy(
                    h, wl, y, bias=b, weight_layout=layout, chunk_size=4, token_chunk_size=4,
                    return_aux=True, **names, **kw)

            (want_l, want_aux), want_g = jax.value_and_grad(
                loss, argnums=(0, 1, 2), has_aux=True)(h, wl, b, y, cwv, tv)

            @jax.jit
            @partial(jax.shard_map, mesh=mesh,
                     in_specs=(P("data"), ws, P("model"), P("data"), P(), P("data")),
                     out_specs=((P(), (P("data"), ws, P("model"))), P("data"), P("data")))
            def sharded(h, wl, b, y, cwv, tv, loss=loss):
                (value, aux), g = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(
                    h, wl, b, y, cwv, tv, axis_name="data", class_axis_name="model")
                return (value, g), aux["argmax"], aux["lse"]

            args = [put(h, P("data")), put(wl, ws), put(b, P("model")), put(y, P("data")),
                    put(cwv, P()), put(tv, P("data"))]
            (value, g), am, lse = sharded(*args)
            name = f"linear_cross_entropy {layout} {sorted(opts)}"
            check(name, (value, g, lse), (want_l, want_g, want_aux["lse"]))
            assert bool(jnp.all(am == want_aux["argmax"])), name


def plain_jit_class_sharded():
    """Under plain jit, logits sharded along the class axis over an explicit mesh axis."""
    from jax.sharding import AxisType

    explicit = jax.make_mesh((2, 2), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    n, c = 64, 16
    x0 = jax.random.normal(jax.random.key(3), (n, c)) * 2
    y0 = (jnp.arange(n) % c).at[3].set(-100)
    q0 = jax.nn.softmax(x0 * 2)
    seg0 = x0.reshape(4, 16, c)
    cases = [
        ("cross_entropy", lambda x, y, q: jaxloss.cross_entropy(x, y, z_loss=1e-3)),
        ("cross_entropy smoothing", lambda x, y, q: jaxloss.cross_entropy(
            x, y, label_smoothing=0.1, class_weights=jnp.linspace(0.5, 2.0, c))),
        ("focal_loss", lambda x, y, q: jaxloss.focal_loss(x, y, label_smoothing=0.1)),
        ("nll_loss", lambda x, y, q: jaxloss.nll_loss(jax.nn.log_softmax(x), y)),
        ("cross_entropy probabilities", lambda x, y, q: jaxloss.cross_entropy(x, q)),
        ("dice_cross_entropy_loss", lambda x, y, q: jaxloss.dice_cross_entropy_loss(
            x.reshape(seg0.shape), jnp.abs(y).reshape(seg0.shape[:2]) % c)),
    ]
    with jax.set_mesh(explicit):
        x = jax.device_put(x0, NamedSharding(explicit, P("data", "model")))
        y = jax.device_put(y0, NamedSharding(explicit, P("data")))
        q = jax.device_put(q0, NamedSharding(explicit, P("data", "model")))
        for name, f in cases:
            got = jax.jit(jax.value_and_grad(f))(x, y, q)
            want = jax.value_and_grad(f)(x0, y0, q0)
            check(f"plain jit, explicit class sharding: {name}", got, want)


def plain_jit_linear():
    """linear_cross_entropy under plain jit with the weight sharded along V and the tokens
    along "data" (Auto and Explicit mesh axes): equal to one device, and the compiled
    program has no all-gather and no temp buffer near the (N, V) logits' size."""
    import re

    from jax.sharding import AxisType

    n, d, v = 64, 8, 256
    k = jax.random.split(jax.random.key(5), 5)
    h0 = jax.random.normal(k[0], (n, d))
    w0 = jax.random.normal(k[1], (v, d))
    b0 = jax.random.normal(k[2], (v,))
    y0 = jax.random.randint(k[3], (n,), 0, v).at[5].set(-100)
    q0 = jax.nn.softmax(jax.random.normal(k[4], (n, v)))
    cw = jnp.linspace(0.5, 2.0, v)
    options = [
        {},
        {"label_smoothing": 0.1, "class_weights": cw, "z_loss": 1e-3, "softcap": 3.0},
        {"probabilities": True, "label_smoothing": 0.05},
    ]
    # Each mesh kind runs every option once, the layouts alternating (6 compilations).
    for kind in (AxisType.Auto, AxisType.Explicit):
        m = jax.make_mesh((2, 2), ("data", "model"), axis_types=(kind,) * 2)
        for i, opts in enumerate(options):
            layout = ("vd", "dv")[(i + (kind == AxisType.Explicit)) % 2]
            kw = {key: val for key, val in opts.items() if key != "probabilities"}
            prob = opts.get("probabilities", False)

            def loss(h, w, b, y, q, kw=kw, prob=prob, layout=layout):
                return jaxloss.linear_cross_entropy(
                    h, w, q if prob else y, bias=b, weight_layout=layout, chunk_size=32,
                    token_chunk_size=8, **kw)

            wl0 = w0 if layout == "vd" else w0.T
            ws = P("model", None) if layout == "vd" else P(None, "model")
            want = jax.value_and_grad(loss, argnums=(0, 1, 2))(h0, wl0, b0, y0, q0)
            with jax.set_mesh(m):
                args = [jax.device_put(a, NamedSharding(m, s)) for a, s in (
                    (h0, P("data", None)), (wl0, ws), (b0, P("model")), (y0, P("data")),
                    (q0, P("data", "model")))]
                f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
                compiled = f.lower(*args).compile()
                got = compiled(*args)
            name = f"plain jit linear_cross_entropy {kind.name} {layout} {sorted(opts)}"
            check(name, got, want)
            hlo = compiled.as_text()
            gathers = re.findall(r"all-gather(?:-start)?\(", hlo)
            assert not gathers, f"{name}: {len(gathers)} all-gathers"
            temp = compiled.memory_analysis().temp_size_in_bytes
            # Probability targets are themselves (N, V): their per-device block is
            # N * V / 4 floats and smoothing mixes a copy of it; below the logits' size
            # all the same. Integer targets: nothing near it (the logits' per-device
            # block alone would be N * V / 4 floats).
            limit = n * v * 4 // (1 if prob else 8)
            assert temp < limit, f"{name}: temp {temp} bytes >= {limit}"
            # The weight's gradient keeps the weight's sharding.
            assert got[1][1].sharding.is_equivalent_to(NamedSharding(m, ws), 2), (
                name, got[1][1].sharding)


def main():
    global mesh
    assert jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((2, 2), ("data", "model"))
    softmax_losses()
    more_softmax_losses()
    linear()
    plain_jit_class_sharded()
    plain_jit_linear()
    print("ALL OK")


if __name__ == "__main__":
    main()
