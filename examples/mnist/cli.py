"""Command line of the MNIST trainer: ``python -m examples.mnist [train|compare|sweep] ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from examples.mnist.config import CLASS_WEIGHT_METHODS, LOSSES, SWEEPABLE, Config

COMMANDS = ("train", "compare", "sweep")
DEFAULT_COMPARE_RUNS = ("ce", "weighted_ce", "focal", "focal:class_weights=balanced", "ce_l1")
# Config fields a compare run spec may set, with their types.
SPEC_KEYS = {
    "gamma": float,
    "label_smoothing": float,
    "class_weights": str,
    "beta": float,
    "l1": float,
    "learning_rate": float,
}
_D = Config()


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _numbers(cast):
    def parse(text: str) -> list:
        try:
            values = [cast(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {cast.__name__}s, got {text!r}"
            ) from None
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        return values

    parse.__name__ = f"{cast.__name__} list"
    return parse


def _add_common(p: argparse.ArgumentParser, *, sweep: bool = False, loss: bool = True) -> None:
    """The flags every subcommand shares; in ``sweep``, the sweepable ones take lists."""
    num = _numbers(float) if sweep else float
    integer = _numbers(int) if sweep else int
    wrap = (lambda v: [v]) if sweep else (lambda v: v)
    listed = " (comma-separated values to sweep)" if sweep else ""

    g = p.add_argument_group("loss")
    if loss:
        g.add_argument(
            "--loss",
            choices=LOSSES,
            default=_D.loss,
            help="training loss: cross-entropy, class-weighted cross-entropy, "
            "softmax focal loss, or cross-entropy + L1 penalty on the parameters",
        )
    g.add_argument(
        "--gamma",
        type=num,
        default=wrap(_D.gamma),
        help=f"focusing parameter of --loss focal{listed}",
    )
    g.add_argument(
        "--label-smoothing",
        type=num,
        default=wrap(_D.label_smoothing),
        help=f"label smoothing in [0, 1], for every loss{listed}",
    )
    g.add_argument(
        "--class-weights",
        choices=CLASS_WEIGHT_METHODS,
        default=None,
        help="class weights from the training split's class counts "
        "(jaxloss.class_weights_from_counts); default: balanced for "
        "weighted_ce, none otherwise",
    )
    g.add_argument(
        "--beta", type=float, default=_D.beta, help="beta of --class-weights effective_number"
    )
    g.add_argument(
        "--l1",
        type=num,
        default=wrap(_D.l1),
        help=f"coefficient of the L1 penalty of --loss ce_l1{listed}",
    )

    g = p.add_argument_group("optimisation (defaults: the classic PyTorch MNIST recipe)")
    g.add_argument("--epochs", type=int, default=_D.num_epochs, help="training epochs")
    g.add_argument(
        "--batch-size",
        type=int,
        default=_D.batch_size,
        help="global batch size; must be divisible by the number of devices",
    )
    g.add_argument(
        "--lr", type=num, default=wrap(_D.learning_rate), help=f"Adam learning rate{listed}"
    )
    g.add_argument(
        "--seed",
        type=integer,
        default=wrap(_D.seed),
        help=f"seed of the initialisation and the shuffling{listed}",
    )
    g.add_argument(
        "--hidden", type=_ints, default=_D.hidden, help="hidden layer widths, comma-separated"
    )
    g.add_argument(
        "--eval-batch-size",
        type=int,
        default=_D.eval_batch_size,
        help="evaluation batch size (rounded up to a multiple of the devices)",
    )

    g = p.add_argument_group("data")
    g.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with the four MNIST .gz files; searched first, then "
        "$JAXLOSS_DATA_DIR, then ~/.cache/jaxloss/mnist (where missing files "
        "are downloaded)",
    )
    g.add_argument(
        "--no-download", action="store_true", help="fail instead of downloading missing files"
    )
    g.add_argument(
        "--imbalance",
        type=float,
        default=_D.imbalance,
        help="fraction of the training examples of --minority-classes to keep "
        "(1 keeps all); the test split is never changed",
    )
    g.add_argument(
        "--minority-classes",
        type=_ints,
        default=_D.minority_classes,
        help="classes that --imbalance thins out, comma-separated",
    )
    g.add_argument(
        "--data-seed",
        type=int,
        default=_D.data_seed,
        help="seed of the --imbalance subsampling (fixed across runs)",
    )
    g.add_argument(
        "--max-train",
        type=int,
        default=None,
        help="use only the first N training examples (before --imbalance)",
    )
    g.add_argument("--max-test", type=int, default=None, help="use only the first N test examples")

    g = p.add_argument_group("output and devices")
    g.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/<subcommand>)"
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    g.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() first (multi-host runs; the "
        "cluster is detected from the environment)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.mnist",
        formatter_class=_Formatter,
        description=(
            "Train an MLP on MNIST with jaxloss losses, optionally on an imbalanced "
            "training split.\n\n"
            "  train    train one model (the default when no subcommand is given)\n"
            "  compare  train several loss configurations on the same split, side by side\n"
            "  sweep    train K models differing in one hyperparameter as one vmapped "
            "program\n\n"
            "Run 'python -m examples.mnist SUBCOMMAND --help' for a subcommand's flags."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="{train,compare,sweep}")
    p = sub.add_parser(
        "train",
        formatter_class=_Formatter,
        help="train one model (default)",
        description="Train one model and write metrics.json, loss_curve.png and "
        "confusion_matrix.png to --out.",
    )
    _add_common(p)
    p = sub.add_parser(
        "compare",
        formatter_class=_Formatter,
        help="compare loss configurations",
        description="Train several loss configurations on the same (by default "
        "imbalanced) split; write report.md (accuracy, macro F1, minority-class recall), "
        "summary.json, loss_curves.png and one folder per run to --out.",
    )
    p.add_argument(
        "--runs",
        nargs="+",
        default=list(DEFAULT_COMPARE_RUNS),
        metavar="SPEC",
        help="runs to compare, each LOSS or LOSS:key=value,...; keys: "
        f"{', '.join(SPEC_KEYS)} (unset keys take the flags below), e.g. "
        "'focal:gamma=1,class_weights=effective_number'",
    )
    _add_common(p, loss=False)
    p.set_defaults(imbalance=0.02)
    p = sub.add_parser(
        "sweep",
        formatter_class=_Formatter,
        help="vmapped hyperparameter sweep",
        description="Train K models that differ in one hyperparameter as one jax.vmap-ed "
        "program (one compilation), e.g. '--loss focal --gamma 0,0.5,1,2,5'. Every model "
        "starts from the same seed and sees the same batches (unless --seed is swept). "
        "Writes the same report as compare.",
    )
    _add_common(p, sweep=True)
    for p in sub.choices.values():
        p.set_defaults(parser=p)
    return parser


def _config(args, **overrides) -> Config:
    fields = {
        "loss": getattr(args, "loss", "ce"),
        "gamma": args.gamma,
        "label_smoothing": args.label_smoothing,
        "class_weights": args.class_weights,
        "beta": args.beta,
        "l1": args.l1,
        "hidden": args.hidden,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "num_epochs": args.epochs,
        "seed": args.seed,
        "imbalance": args.imbalance,
        "minority_classes": args.minority_classes,
        "data_seed": args.data_seed,
        "max_train": args.max_train,
        "max_test": args.max_test,
        "eval_batch_size": args.eval_batch_size,
        "data_dir": args.data_dir,
        "download": not args.no_download,
    }
    fields.update(overrides)
    return Config(**fields)


def parse_spec(spec: str, base: Config) -> Config:
    """``"focal:gamma=1,class_weights=balanced"`` -> ``base`` with those fields set."""
    loss, _, rest = spec.partition(":")
    changes: dict = {"loss": loss.strip()}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in SPEC_KEYS:
            raise ValueError(
                f"run spec {spec!r}: expected LOSS or LOSS:key=value,... with keys "
                f"{', '.join(SPEC_KEYS)}; got {item!r}."
            )
        try:
            changes[key] = SPEC_KEYS[key](value.strip())
        except ValueError:
            raise ValueError(f"run spec {spec!r}: {key} must be a number, got {value!r}.") from None
    return base.replace(**changes)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = args.parser  # the subcommand's parser, for .error()

    if args.distributed:
        import jax

        jax.distributed.initialize()

    # Imported after jax.distributed.initialize(), which must come before other JAX use.
    import jax

    from examples.mnist import data, report, train

    sweep_name, sweep_values = None, None
    try:
        if args.command == "sweep":
            lists = {
                "gamma": args.gamma,
                "label_smoothing": args.label_smoothing,
                "l1": args.l1,
                "learning_rate": args.lr,
                "seed": args.seed,
            }
            varied = [k for k, v in lists.items() if len(v) > 1]
            if len(varied) != 1:
                raise ValueError(
                    f"sweep varies exactly one of {', '.join(SWEEPABLE)} (give it as a "
                    f"comma-separated list, e.g. --gamma 0,0.5,1,2,5); got "
                    f"{', '.join(varied) or 'none'} with several values."
                )
            sweep_name, sweep_values = varied[0], lists[varied[0]]
            args.gamma, args.label_smoothing, args.l1, args.lr, args.seed = (
                v[0] for v in lists.values()
            )
        config = _config(args)
        if sweep_name is not None:
            train.check_sweep(config, sweep_name)
        configs = (
            [parse_spec(s, config) for s in args.runs] if args.command == "compare" else [config]
        )
        train.make_mesh(config.batch_size)  # a clear error now if it does not divide
    except ValueError as e:
        sub.error(str(e))

    main_process = jax.process_index() == 0
    progress = main_process and not args.quiet
    out = args.out or Path("runs") / args.command
    try:
        dataset = data.prepare(config)
    except (data.MNISTNotFoundError, data.IDXError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if progress:
        print(
            f"MNIST: {len(dataset.y_train)} training examples "
            f"(per class: {', '.join(str(int((dataset.y_train == c).sum())) for c in range(10))}), "
            f"{len(dataset.y_test)} test examples; {jax.device_count()} "
            f"{jax.default_backend()} device(s)",
            file=sys.stderr,
        )

    if args.command == "train":
        result = train.train_and_evaluate(config, dataset, progress=progress)
        if main_process:
            report.write_run(result, out)
            print(report.run_summary(result))
            print(f"\nwrote {out}/metrics.json, loss_curve.png, confusion_matrix.png")
        return 0

    if args.command == "compare":
        results = []
        for cfg in configs:
            if progress:
                print(f"\n== {cfg.name}", file=sys.stderr)
            results.append(train.train_and_evaluate(cfg, dataset, progress=progress))
        labels = [r.config.name for r in results]
        title = "MNIST loss comparison"
    else:
        results = train.sweep(config, sweep_name, sweep_values, dataset, progress=progress)
        labels = [f"{sweep_name}={v:g}" for v in sweep_values]
        title = f"MNIST sweep over {sweep_name} ({config.name.split()[0]}, one vmapped program)"
    if config.imbalance < 1.0:
        title += (
            f"; classes {','.join(map(str, config.minority_classes))} kept at "
            f"{config.imbalance:g} in training"
        )
    if main_process:
        table = report.write_comparison(results, out, title=title, labels=labels)
        print(
            f"\n{title}\n\n{table}\n\nwrote {out}/report.md, summary.json, loss_curves.png "
            f"and one folder per run"
        )
    return 0
