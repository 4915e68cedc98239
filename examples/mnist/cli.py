"""Command line of the MNIST trainer: ``python -m examples.mnist [train|compare|sweep] ...``."""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

from examples import distributed
from examples.mnist.config import CLASS_WEIGHT_METHODS, LOSSES, SCHEDULES, SWEEPABLE, Config

COMMANDS = ("train", "compare", "sweep")
DEFAULT_COMPARE_RUNS = (
    "ce",
    "weighted_ce",
    "focal",
    "focal:class_weights=balanced",
    "ce_l1",
    "logit_adjusted",
    "ldam",
    "poly1",
)
DEFAULT_COMPARE_SEEDS = (0, 1, 2)
# Config fields a compare run spec may set, with their types.
SPEC_KEYS = {
    "gamma": float,
    "label_smoothing": float,
    "class_weights": str,
    "beta": float,
    "l1": float,
    "tau": float,
    "max_margin": float,
    "scale": float,
    "drw_epoch": int,
    "epsilon": float,
    "learning_rate": float,
}
_D = Config()


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default, except where there is none to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or not action.option_strings:
            return text
        if default is argparse.SUPPRESS:
            return text
        if isinstance(default, list | tuple):
            sep = " " if action.nargs == "+" else ","
            default = sep.join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
        return f"{text} (default: {default})"


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _run_name(text: str) -> str:
    """A run name is one folder name: letters, digits and ``_.=+-``, not ``.``/``..``."""
    if not re.fullmatch(r"[A-Za-z0-9_.=+-]+", text) or text in (".", ".."):
        raise argparse.ArgumentTypeError(
            f"expected a folder name of letters, digits and _.=+- (no '/' or spaces), got {text!r}"
        )
    return text


def default_out(command: str, name: str | None, *, root: Path = Path("runs"), now=None) -> Path:
    """The fresh folder a run writes to without ``--out``: ``root/command/name``, or
    ``root/command/<UTC date-time>`` (``-2``, ``-3``, ... appended while that exists).

    Raises ValueError when ``name`` is given and its folder exists: a named run never
    replaces an earlier one.
    """
    base = root / command
    if name is not None:
        if (base / name).exists():
            raise ValueError(
                f"--name {name}: {base / name} exists (an earlier run); choose another "
                f"name, or --out {base / name} to write into it anyway."
            )
        return base / name
    now = now or datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y%m%d-%H%M%S")  # as examples/lm names its runs
    out, k = base / stamp, 1
    while out.exists():
        k += 1
        out = base / f"{stamp}-{k}"
    return out


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


def _add_common(
    p: argparse.ArgumentParser, *, sweep: bool = False, loss: bool = True, seed: bool = True
) -> None:
    """The flags every subcommand shares; in ``sweep``, the sweepable ones take lists."""
    num = _numbers(float) if sweep else float
    integer = _numbers(int) if sweep else int
    wrap = (lambda v: [v]) if sweep else (lambda v: v)
    listed = " (comma-separated values to sweep)" if sweep else ""

    def runs_of(name: str) -> str:
        # compare has no --loss: its runs are named by --runs, whose key=value overrides these
        return f"--loss {name}" if loss else f"the {name} runs"

    g = p.add_argument_group(
        "loss",
        None if loss else "The runs' hyperparameters; a --runs spec's key=value overrides them.",
    )
    if loss:
        g.add_argument(
            "--loss",
            choices=LOSSES,
            default=_D.loss,
            help="training loss: cross-entropy, class-weighted cross-entropy, "
            "softmax focal loss, cross-entropy + L1 penalty on the parameters, "
            "logit-adjusted cross-entropy (Menon et al. 2021), LDAM with deferred "
            "re-weighting (Cao et al. 2019), or Poly-1 cross-entropy (Leng et al. 2022)",
        )
    # The loss's numeric hyperparameters: traced, so a sweep may vary each of them.
    for flag, field, text in (
        ("--gamma", "gamma", f"focusing parameter of {runs_of('focal')}"),
        ("--label-smoothing", "label_smoothing",
         "label smoothing in [0, 1], for every loss but ldam"),
        ("--tau", "tau", f"temperature of {runs_of('logit_adjusted')}; the class counts are "
         "the training split's (1: balanced softmax)"),
        ("--max-margin", "max_margin", f"the rarest class's margin of {runs_of('ldam')} "
         "(margins ~ count**-1/4 of the training split)"),
        ("--scale", "scale", f"logit scale of {runs_of('ldam')}, whose model ends in a cosine "
         "classifier (logits in [-1, 1])"),
        ("--epsilon", "epsilon", f"Poly-1 coefficient of {runs_of('poly1')}"),
    ):  # fmt: skip
        g.add_argument(flag, type=num, default=wrap(getattr(_D, field)), help=text + listed)
    g.add_argument(
        "--drw-epoch",
        type=int,
        default=None,
        help=("--loss ldam trains" if loss else "the ldam runs train")
        + " the first N epochs without class weights, then with "
        "--class-weights (default effective_number, beta 0.9999): LDAM-DRW's deferred "
        "re-weighting. Default: floor(0.8 * epochs), so the last 20%% of the epochs (at "
        "least the last one) are re-weighted; N equal to --epochs never re-weights (LDAM "
        "alone)",
    )
    g.add_argument(
        "--class-weights",
        choices=CLASS_WEIGHT_METHODS,
        default=None,
        help="class weights from the training split's class counts "
        "(jaxloss.class_weights_from_counts); default: balanced for weighted_ce, "
        "effective_number for ldam (from --drw-epoch on), none otherwise",
    )
    g.add_argument(
        "--beta", type=float, default=_D.beta, help="beta of --class-weights effective_number"
    )
    g.add_argument(
        "--l1",
        type=num,
        default=wrap(_D.l1),
        help=f"coefficient of the L1 penalty of {runs_of('ce_l1')}{listed}",
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
        "--schedule",
        choices=SCHEDULES,
        default=_D.schedule,
        help="learning-rate schedule: constant (the recipe), or cosine decay to 0 over the run",
    )
    if seed:
        g.add_argument(
            "--seed",
            type=integer,
            default=wrap(_D.seed),
            help=f"seed of the initialisation and the shuffling{listed}",
        )
    else:
        g.add_argument(
            "--seeds",
            type=_ints,
            default=DEFAULT_COMPARE_SEEDS,
            metavar="S1,S2,...",
            help="seeds of the initialisation and the shuffling: each run is trained once "
            "per seed (as 'train --seed S' would) and reported as the mean and the "
            "min..max over the seeds",
        )
    g.add_argument(
        "--hidden",
        type=_ints,
        default=_D.hidden,
        metavar="W1,W2",
        help="hidden layer widths, comma-separated",
    )
    g.add_argument(
        "--mean", type=float, default=_D.mean, help="input normalisation: (x/255 - mean) / std"
    )
    g.add_argument("--std", type=float, default=_D.std, help="see --mean")
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
        metavar="DIR",
        help="folder with the four MNIST IDX .gz files. Looked for in order: --data-dir, "
        "$JAXLOSS_DATA_DIR, ~/.cache/jaxloss/mnist ($XDG_CACHE_HOME respected); when none "
        "has them, they are downloaded (MD5-checked) into the first of these",
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
        metavar="C1,C2,...",
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
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder, used as given (an earlier run's files there are replaced). "
        "Default: a fresh folder runs/<subcommand>/<--name> or, without --name, "
        "runs/<subcommand>/<UTC date-time>, so that no run overwrites another",
    )
    g.add_argument(
        "--name",
        type=_run_name,
        default=None,
        metavar="NAME",
        help="name of the run's folder, runs/<subcommand>/NAME (an error if it exists); "
        "ignored with --out",
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    g.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="save the train state (parameters, optimiser state, step, data order) there "
        "with Orbax and, started again with the same flags, resume from the latest complete "
        "checkpoint in it; compare keeps one subfolder per run. On many hosts: a folder "
        "every process sees",
    )
    g.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="steps between checkpoints (default: one epoch); the last step is always saved",
    )
    distributed.add_flags(p)


_METAVARS = {
    "--gamma": "GAMMA",
    "--label-smoothing": "EPS",
    "--l1": "COEF",
    "--tau": "TAU",
    "--max-margin": "MARGIN",
    "--scale": "SCALE",
    "--drw-epoch": "N",
    "--epsilon": "EPS",
    "--lr": "LR",
    "--seed": "SEED",
    "--beta": "BETA",
    "--epochs": "N",
    "--batch-size": "N",
    "--eval-batch-size": "N",
    "--mean": "MEAN",
    "--std": "STD",
    "--imbalance": "FRACTION",
    "--data-seed": "SEED",
    "--max-train": "N",
    "--max-test": "N",
}
SWEEP_FLAGS = {  # flag -> Config field
    "--gamma": "gamma",
    "--label-smoothing": "label_smoothing",
    "--l1": "l1",
    "--tau": "tau",
    "--max-margin": "max_margin",
    "--scale": "scale",
    "--epsilon": "epsilon",
    "--lr": "learning_rate",
    "--seed": "seed",
}


def _set_metavars(p: argparse.ArgumentParser, *, sweep: bool) -> None:
    for action in p._actions:
        flag = action.option_strings[0] if action.option_strings else None
        if action.metavar is None and flag in _METAVARS:
            name = _METAVARS[flag]
            action.metavar = f"{name}[,{name}...]" if sweep and flag in SWEEP_FLAGS else name


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
        "confusion_matrix.png to a fresh runs/train/<date-time> (or --name, --out).",
    )
    _add_common(p)
    p = sub.add_parser(
        "compare",
        formatter_class=_Formatter,
        help="compare loss configurations",
        description="Train several loss configurations on the same (by default "
        "imbalanced) split, each with every seed of --seeds; write report.md (accuracy, "
        "macro F1, minority-class recall: the mean and min..max over the seeds), "
        "summary.json, loss_curves.png and one folder per run to a fresh "
        "runs/compare/<date-time> (or --name, --out).",
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
    _add_common(p, loss=False, seed=False)
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
    for name, p in sub.choices.items():
        _set_metavars(p, sweep=name == "sweep")
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
        "tau": args.tau,
        "max_margin": args.max_margin,
        "scale": args.scale,
        "drw_epoch": args.drw_epoch,
        "epsilon": args.epsilon,
        "hidden": args.hidden,
        "mean": args.mean,
        "std": args.std,
        "learning_rate": args.lr,
        "schedule": args.schedule,
        "batch_size": args.batch_size,
        "num_epochs": args.epochs,
        "seed": args.seeds[0] if args.command == "compare" else args.seed,
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
    if "drw_epoch" in changes and changes["loss"] != "ldam":
        raise ValueError(f"run spec {spec!r}: drw_epoch applies to ldam only.")
    return base.replace(**changes)


def _claim(out: Path) -> Path:
    """Creates the default folder ``out`` (process 0 only), or ``out-2``, ``out-3``, ...
    when another run took it while this one trained."""
    base, k = out, 1
    out.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            out.mkdir()
        except FileExistsError:
            k += 1
            out = base.with_name(f"{base.name}-{k}")
            continue
        if out != base:
            print(f"{base} was taken while this run trained; writing to {out}", file=sys.stderr)
        return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = args.parser  # the subcommand's parser, for .error()

    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        sub.error(f"--checkpoint-every must be >= 1 step, got {args.checkpoint_every}.")
    # Before any other JAX use, as jax.distributed requires; exits on bad flags.
    distributed.initialize_from_args(args, sub)
    import jax

    from examples.checkpoint import CheckpointMismatchError
    from examples.mnist import data, report, train

    sweep_name, sweep_values = None, None
    try:
        if args.command == "sweep":
            dests = {f: f.removeprefix("--").replace("-", "_") for f in SWEEP_FLAGS}
            lists = {field: getattr(args, dests[f]) for f, field in SWEEP_FLAGS.items()}
            varied = [k for k, v in lists.items() if len(v) > 1]
            if len(varied) != 1:
                raise ValueError(
                    f"sweep varies exactly one of {', '.join(SWEEPABLE)} (give it as a "
                    f"comma-separated list, e.g. --gamma 0,0.5,1,2,5); got "
                    f"{', '.join(varied) or 'none'} with several values."
                )
            sweep_name, sweep_values = varied[0], lists[varied[0]]
            for f in SWEEP_FLAGS:  # the single value of each flag not swept
                setattr(args, dests[f], getattr(args, dests[f])[0])
        config = _config(args)
        if sweep_name is not None:
            train.check_sweep(config, sweep_name)
        configs = (
            [parse_spec(s, config) for s in args.runs] if args.command == "compare" else [config]
        )
        if args.command == "compare":
            if not args.seeds:
                raise ValueError("--seeds needs at least one seed, e.g. --seeds 0,1,2.")
            if len(set(args.seeds)) != len(args.seeds):
                raise ValueError(f"--seeds repeats a seed: {args.seeds}.")
        train.make_mesh(config.batch_size)  # a clear error now if it does not divide
        # Before training, so that a taken --name fails at once. Only process 0 writes.
        out = args.out or default_out(args.command, args.name)
    except ValueError as e:
        sub.error(str(e))

    main_process = jax.process_index() == 0
    progress = main_process and not args.quiet
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
            f"{jax.default_backend()} device(s) in {jax.process_count()} process(es)",
            file=sys.stderr,
        )

    ckpt = {"checkpoint_every": args.checkpoint_every}
    try:
        if args.command == "train":
            result = train.train_and_evaluate(
                config, dataset, progress=progress, checkpoint_dir=args.checkpoint_dir, **ckpt
            )
        elif args.command == "compare":
            labels = [cfg.name for cfg in configs]
            # Spec keys that Config.name leaves out, on the rows only where they vary.
            for field, short in (("learning_rate", "lr"), ("beta", "beta")):
                if len({getattr(cfg, field) for cfg in configs}) > 1:
                    labels = [
                        f"{label} {short}={getattr(cfg, field):g}"
                        for label, cfg in zip(labels, configs, strict=True)
                    ]
            labels = [  # distinct names (and folders) for repeated specs
                f"{label} #{labels[:i].count(label) + 1}" if labels.count(label) > 1 else label
                for i, label in enumerate(labels)
            ]
            results = []  # per run, one result per seed
            for label, cfg in zip(labels, configs, strict=True):
                if progress:
                    seeds = ",".join(map(str, args.seeds))
                    print(f"\n== {label} (seed {seeds})", file=sys.stderr)
                folder = args.checkpoint_dir and args.checkpoint_dir / report.slug(label)
                # One run per seed, each as `train --seed S` would run it (the same
                # compiled program serves every seed: the seed is traced).
                runs = []
                for seed in args.seeds:
                    if progress and len(args.seeds) > 1:
                        print(f"-- seed {seed}", file=sys.stderr)
                    where = folder
                    if folder and len(args.seeds) > 1:
                        where = folder / f"seed={seed}"
                    runs.append(
                        train.train_and_evaluate(
                            cfg.replace(seed=seed),
                            dataset,
                            progress=progress,
                            checkpoint_dir=where,
                            **ckpt,
                        )
                    )
                results.append(runs)
        else:
            results = train.sweep(
                config,
                sweep_name,
                sweep_values,
                dataset,
                progress=progress,
                checkpoint_dir=args.checkpoint_dir,
                **ckpt,
            )
    except CheckpointMismatchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if main_process and args.out is None:
        out = _claim(out)
    if args.command == "train":
        if main_process:
            report.write_run(result, out)
            print(report.run_summary(result))
            print(f"\nwrote {out}/metrics.json, loss_curve.png, confusion_matrix.png")
        return 0

    if args.command == "compare":
        title = "MNIST loss comparison"
    else:
        labels = [f"{sweep_name}={v:g}" for v in sweep_values]
        title = f"MNIST sweep over {sweep_name} ({config.name.split()[0]}, one vmapped program)"
    if config.imbalance < 1.0:
        title += (
            f"; classes {','.join(map(str, config.minority_classes))} kept at "
            f"{config.imbalance:g} in training"
        )
    if args.command == "sweep":
        results = [[r] for r in results]
    if main_process:
        table = report.write_comparison(results, out, title=title, labels=labels)
        print(
            f"\n{title}\n\n{table}\n\nwrote {out}/report.md, summary.json, loss_curves.png "
            f"and one folder per run"
        )
    return 0
