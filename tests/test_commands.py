"""Every command and snippet of README.md and docs/**/*.md runs as written (issue 14, item 2).

The shell blocks (```bash, ```console, ```shell, ```sh) are read line by line: ``\\``
continuations joined, comments dropped, ``&&`` chains split. Each command is handled by
exactly one rule, and a command no rule covers fails :func:`test_every_command_has_a_rule`
(a fast test), so a new command cannot go untested:

- ``export VAR=...``: sets VAR for the commands after it in the same block.
- ``python -m examples.<x> ...`` / ``python -m benchmarks.<x> ...``: run in a subprocess from
  the repository root with exactly the argv written plus the CLI's short form
  (:data:`SHORT_FORMS`, the fewest flags that make it take seconds, with every output folder
  under ``tmp_path``; a written ``--out``/``--checkpoint-dir`` is overridden by the suffix,
  argparse keeping the last value, so nothing is written into the checkout or a shared
  ``/tmp`` folder). A command ending in ``&`` runs in the background together with the next
  one of its block, as a shell would: the multi-process blocks start both processes at once.
  Their ``--coordinator`` port is the written one unless it is busy on this machine, when a
  free port replaces it in both commands. MNIST is read from ``../shared/data/mnist`` as
  written; the suffix adds ``--no-download`` and the environment points ``XDG_CACHE_HOME`` at
  ``tmp_path`` (and drops ``$JAXLOSS_DATA_DIR``), so a command without ``--data-dir`` fails at
  once instead of finding a cache or trying the network. Marked slow (``--run-slow``).
- Blocks fenced ```bash reference hold placeholders (``host0``, ``N``, ``K``, ``/data/...``,
  a SLURM script): not run; every ``--flag`` of their ``python -m`` commands must be one the
  CLI's ``--help`` lists, so a renamed flag still fails.
- ``pip install -e ".[extras]"``: not run (it installs); each extra exists in pyproject.toml.
- ``python -m pytest ...``: not run (it is the suite); its flags exist in ``pytest --help``.
- ``sphinx-build ...``, ``ruff check .``, ``mypy``: not run here; ``.ci/run`` holds the
  identical line, and CI runs it.

Every ```python block of docs/**/*.md runs as written, in order, one namespace per page
(marked slow too: ~25 s for the guides; the README's are run by tests/test_readme.py, which
uses the same fence parser). Blocks
fenced ```python reference are not run. The API pages' examples are ``{eval-rst}``
autodoc entries whose doctests ``--doctest-modules`` runs. Any other fence language fails
:func:`test_every_fence_is_known`.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax
import pytest
from helpers import HAVE_MNIST, SHARED_MNIST, free_port

ROOT = Path(__file__).resolve().parents[1]
# BENCHMARKS.md's commands take minutes and torch: fenced `bash reference`, their flags are
# checked against each CLI's --help.
DOC_PAGES = sorted(
    p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.relative_to(ROOT).parts
)
PAGES = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *DOC_PAGES]
SHELL = {"bash", "console", "shell", "sh"}
# Fence info strings the pages may use. Untyped fences are program output (error messages)
# or illustrations; MyST directives are Sphinx's.
KNOWN_FENCES = {"", "python", "python reference", "{eval-rst}", "{toctree}", "{include}"} | {
    f"{lang}{ref}" for lang in SHELL for ref in ("", " reference")
}

# The short form of each CLI, appended to the written argv; {tmp} is the test's tmp_path.
# Keys: (module, subcommand); a module without subcommands has subcommand None.
_MNIST_SHORT = "--epochs 1 --max-train 1000 --max-test 500 --no-download --out {tmp}/out"
SHORT_FORMS = {
    ("examples.mnist", "train"): _MNIST_SHORT,
    # The eight default runs, on one seed: the default three cost 77 s of CPU against 47 s
    # (each seed trains and evaluates every run again); several seeds' mean and min..max are
    # tests/test_mnist_losses.py::test_compare_seeds_report_mean_and_min_max.
    ("examples.mnist", "compare"): _MNIST_SHORT + " --seeds 0",
    ("examples.mnist", "sweep"): _MNIST_SHORT,
    # 400 steps of a tiny MLP on blobs: ~5 s as written.
    ("examples.optax_loop", None): "",
    # Every code path (the three-way comparison, training, plots) on a smaller vocabulary.
    ("examples.lm", None): "--steps 2 --vocab-size 1024 --out {tmp}/out "
    "--checkpoint-dir {tmp}/ckpt",
    ("benchmarks.vocab_parallel", None): "--quick",
    # Both models a few steps on tiny images (tests/test_segmentation_example.py's sizes).
    ("examples.segmentation", None): "--steps 3 --image-size 16 --num-train 16 --num-test 4 "
    "--batch-size 4 --width 4 --figure-rows 2 --out {tmp}/out",
}
# Subcommands of the CLIs that have them, and the one used when none is written.
SUBCOMMANDS = {"examples.mnist": ({"train", "compare", "sweep"}, "train")}


# --- extraction -------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    info: str  # what follows the backticks: "bash", "python reference", ...
    text: str  # the body, its fence's indentation removed

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, indented ones (in a list item) included."""
    blocks, lines, i = [], page.read_text().splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^( *)(`{3,})(.*)$", lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks, info = opening.groups()
        body, j = [], i + 1
        while j < len(lines) and not re.match(rf"^ *{ticks}\s*$", lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        assert j < len(lines), f"{page}:{i + 1}: unclosed fence"
        blocks.append(Block(page, i + 1, info.strip(), "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def blocks_of(info: str, pages=PAGES) -> list[Block]:
    return [b for page in pages for b in fenced_blocks(page) if b.info == info]


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    block: Block
    background: bool = False  # ended in `&`


def commands(block: Block) -> list[Command]:
    """The commands of a shell block: continuations joined, comments dropped, `&&` split."""
    out = []
    for line in block.text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        background = bool(words) and words[-1] == "&"
        words = words[:-1] if background else words
        chain = [[]]
        for word in words:
            if word == "&&":
                chain.append([])
            else:
                chain[-1].append(word)
        out += [Command(tuple(argv), block, background) for argv in chain if argv]
    return out


def shell_blocks(reference: bool) -> list[Block]:
    suffix = " reference" if reference else ""
    return [b for lang in sorted(SHELL) for b in blocks_of(lang + suffix)]


def module_and_subcommand(argv) -> tuple[str, str | None, list[str]]:
    """For ``... python -m MODULE [SUBCOMMAND] ARGS`` (a launcher such as ``srun`` may come
    first): the module, the subcommand (the default one when none is written) and ARGS."""
    start = argv.index("-m") + 1
    module, rest = argv[start], list(argv[start + 1:])
    names, default = SUBCOMMANDS.get(module, (set(), None))
    if rest and rest[0] in names:
        return module, rest[0], rest[1:]
    return module, default, rest


def _is_cli(argv) -> bool:
    return (
        "python" in argv
        and "-m" in argv
        and re.match(r"(examples|benchmarks)\.\w+$", argv[argv.index("-m") + 1]) is not None
    )


RULES = {
    "export": lambda argv: argv[0] == "export",
    "run": lambda argv: argv[:2] == ("python", "-m") and _is_cli(argv),
    "pip extras": lambda argv: argv[:3] == ("pip", "install", "-e")
    and re.fullmatch(r"\.\[[\w,-]+\]", argv[3]) is not None
    and len(argv) == 4,
    "pytest flags": lambda argv: argv[:3] == ("python", "-m", "pytest"),
    "in .ci/run": lambda argv: argv[0] in {"sphinx-build", "mypy"} or argv[:2] == ("ruff", "check"),
}


def rules_for(command: Command) -> list[str]:
    if command.block.info.endswith(" reference"):
        return ["reference flags"] if _is_cli(command.argv) else []
    return [name for name, applies in RULES.items() if applies(command.argv)]


def every_command() -> list[Command]:
    return [c for reference in (False, True) for b in shell_blocks(reference) for c in commands(b)]


# --- the rules that do not run the command ----------------------------------------------


def test_there_are_commands_to_check():
    runs = [c for c in every_command() if rules_for(c) == ["run"]]
    assert len(runs) >= 8, [c.argv for c in runs]
    assert blocks_of("python", DOC_PAGES), "no ```python block in docs/"


def test_every_fence_is_known():
    unknown = [
        f"{b.where}: ```{b.info}"
        for page in PAGES
        for b in fenced_blocks(page)
        if (b.info.split()[0] if b.info.startswith("{") else b.info) not in KNOWN_FENCES
    ]
    assert not unknown, (
        f"fences this test does not know (so nothing would check them): {unknown}; use "
        f"```bash, ```bash reference, ```python or ```python reference, or teach "
        f"tests/test_commands.py the new kind"
    )


def test_every_command_has_a_rule():
    """Exactly one rule per command: a new README command without one fails here."""
    problems = []
    for command in every_command():
        rules = rules_for(command)
        if len(rules) != 1:
            problems.append(f"{command.block.where}: {shlex.join(command.argv)!r} -> {rules}")
    assert not problems, (
        "commands covered by no rule (or by several); give them a rule in "
        "tests/test_commands.py, or fence placeholder blocks as ```bash reference:\n"
        + "\n".join(problems)
    )


def test_every_cli_has_a_short_form():
    missing = set()
    for command in every_command():
        if rules_for(command) == ["run"]:
            module, sub, _ = module_and_subcommand(command.argv)
            if (module, sub) not in SHORT_FORMS:
                missing.add((module, sub))
    assert not missing, f"add a short form to SHORT_FORMS for {sorted(missing, key=str)}"


def _of_rule(rule: str) -> list[Command]:
    return [c for c in every_command() if rules_for(c) == [rule]]


def _id(command: Command) -> str:
    return f"{command.block.where}:{shlex.join(command.argv)}"[:120]


@pytest.mark.parametrize("command", _of_rule("pip extras"), ids=_id)
def test_pip_extras_exist(command):
    # The keys of [project.optional-dependencies] (tomllib is Python 3.11+; we support 3.10).
    section = re.search(
        r"^\[project\.optional-dependencies\]\n(.*?)^\[", (ROOT / "pyproject.toml").read_text(),
        flags=re.M | re.S,
    ).group(1)
    extras = set(re.findall(r"^([\w-]+)\s*=", section, flags=re.M))
    wanted = set(re.fullmatch(r"\.\[(.*)\]", command.argv[3]).group(1).split(","))
    assert wanted <= extras, f"{command.block.where}: extras {wanted - extras} not in {extras}"


@functools.cache
def _help(*argv: str) -> str:
    result = subprocess.run(
        [sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _flags(args) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("--")}


def _help_flags(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z0-9][\w-]*", text))


@pytest.mark.parametrize("command", _of_rule("pytest flags"), ids=_id)
def test_pytest_flags_exist(command):
    flags = _flags(command.argv[3:])
    if flags:  # `python -m pytest` alone needs no `--help` run
        unknown = flags - _help_flags(_help("-m", "pytest", "-p", "no:cacheprovider"))
        assert not unknown, f"{command.block.where}: pytest has no {sorted(unknown)}"


@pytest.mark.parametrize("command", _of_rule("in .ci/run"), ids=_id)
def test_ci_runs_the_command(command):
    ci = {" ".join(line.split()) for line in (ROOT / ".ci" / "run").read_text().splitlines()}
    assert shlex.join(command.argv) in ci, (
        f"{command.block.where}: .ci/run must run {shlex.join(command.argv)!r} as written"
    )


@pytest.mark.parametrize("command", _of_rule("reference flags"), ids=_id)
def test_reference_commands_use_existing_flags(command):
    module, sub, args = module_and_subcommand(command.argv)
    text = _help("-m", module, *([sub] if sub else []))
    unknown = _flags(args) - _help_flags(text)
    assert not unknown, (
        f"{command.block.where}: `python -m {module} {sub or ''}` has no flags "
        f"{sorted(unknown)} (its --help lists {sorted(_help_flags(text))})"
    )


def test_the_extractor_reads_shell_like_a_reader():
    block = Block(
        ROOT / "README.md", 1, "bash",
        "# a comment\nexport A=1 B=2\npip install -e \".[x]\" && python -m examples.m \\\n"
        "  --flag 3   # trailing\npython -m examples.m --process-id 0 &\n",
    )
    assert [(c.argv, c.background) for c in commands(block)] == [
        (("export", "A=1", "B=2"), False),
        (("pip", "install", "-e", ".[x]"), False),
        (("python", "-m", "examples.m", "--flag", "3"), False),
        (("python", "-m", "examples.m", "--process-id", "0"), True),
    ]
    assert module_and_subcommand(("srun", "python", "-m", "examples.mnist", "--lr", "1")) == (
        "examples.mnist", "train", ["--lr", "1"],
    )


# --- the commands that run ---------------------------------------------------------------


@dataclass
class Run:
    """What a reader runs at once: the background commands of a block and the next one."""

    env: tuple[tuple[str, str], ...]
    argvs: tuple[tuple[str, ...], ...]
    where: list[str] = field(default_factory=list)


def runs() -> list[Run]:
    """Each distinct run of the pages, once (the guides repeat some of the README's)."""
    found: dict[tuple, Run] = {}
    for block in shell_blocks(reference=False):
        env: dict[str, str] = {}
        pending: list[tuple[str, ...]] = []
        for command in commands(block):
            if command.argv[0] == "export":
                env.update(a.split("=", 1) for a in command.argv[1:])
            elif rules_for(command) == ["run"]:
                pending.append(command.argv)
                if not command.background:
                    key = (tuple(sorted(env.items())), tuple(pending))
                    found.setdefault(key, Run(*key)).where.append(block.where)
                    pending = []
        assert not pending, f"{block.where}: a block ends with a background command"
    return list(found.values())


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _with_free_port(argvs):
    """The written `--coordinator HOST:PORT`, or a free port in its place if it is busy."""
    ports = {a.rsplit(":", 1)[1] for argv in argvs for a in argv if re.match(r".+:\d+$", a)
             and "--coordinator" in argv and argv[argv.index(a) - 1] == "--coordinator"}
    if not ports or all(_port_is_free(int(p)) for p in ports):
        return argvs
    new = {p: str(free_port()) for p in ports}
    return tuple(
        tuple(re.sub(r":(\d+)$", lambda m: ":" + new.get(m.group(1), m.group(1)), a)
              for a in argv)
        for argv in argvs
    )


def _wait(processes, timeout=300, grace=20):
    """Waits for a run's processes; when one fails, the others (waiting for their dead
    peer) get ``grace`` seconds, and past ``timeout`` every process left is killed."""
    deadline, failed_at = time.monotonic() + timeout, None
    while any(p.poll() is None for *_, p in processes):
        now = time.monotonic()
        if failed_at is None and any(p.returncode not in (None, 0) for *_, p in processes):
            failed_at = now
        if now > deadline or (failed_at is not None and now > failed_at + grace):
            for *_, p in processes:
                p.kill()
                p.wait()
            return
        time.sleep(0.2)


def _entries(folder: Path) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in folder.rglob("*")} if folder.exists() else set()


@pytest.mark.slow
@pytest.mark.parametrize("run", runs(), ids=lambda r: f"{r.where[0]}:" + " & ".join(
    shlex.join(a[2:]) for a in r.argvs)[:100])
def test_command_runs(run, tmp_path):
    if not HAVE_MNIST and any("shared/data/mnist" in " ".join(a) for a in run.argvs):
        pytest.skip(f"the command reads MNIST, which is not at {SHARED_MNIST}")
    env = {k: v for k, v in os.environ.items() if k != "JAXLOSS_DATA_DIR"}
    env.update(run.env)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    before = set(os.listdir(ROOT)) | _entries(ROOT / "runs")
    start = time.perf_counter()
    processes = []
    for i, argv in enumerate(_with_free_port(run.argvs)):
        module, sub, _ = module_and_subcommand(argv)
        # One folder for all the processes of a run: Orbax's multi-process checkpoint needs
        # the same --checkpoint-dir in each (only process 0 writes --out).
        suffix = SHORT_FORMS[module, sub].format(tmp=tmp_path).split()
        log = open(tmp_path / f"p{i}.log", "w+")  # noqa: SIM115 (closed below)
        processes.append((argv, log, subprocess.Popen(
            [sys.executable, *argv[1:], *suffix], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, text=True,
        )))
    _wait(processes)
    failures = []
    for argv, log, process in processes:
        log.seek(0)
        output = log.read()
        log.close()
        if process.returncode != 0:
            failures.append(f"{shlex.join(argv)} -> exit {process.returncode}:\n{output[-3000:]}")
    seconds = time.perf_counter() - start
    print(f"{seconds:.1f} s: {' & '.join(shlex.join(a) for a in run.argvs)} ({run.where})")
    assert not failures, f"the command(s) written at {run.where} failed:\n" + "\n".join(failures)
    written = (set(os.listdir(ROOT)) | _entries(ROOT / "runs")) - before
    assert not written, f"the short form wrote into the checkout: {sorted(written)}"
    if any("{tmp}/out" in SHORT_FORMS[module_and_subcommand(a)[:2]] for a in run.argvs):
        assert any((tmp_path / "out").iterdir()), "the run wrote nothing to its --out folder"


# --- the docs' Python snippets -------------------------------------------------------------


def _docs_pages_with_python():
    return [p for p in DOC_PAGES if blocks_of("python", [p])]


@pytest.mark.slow  # 30 s for the four guides on 2 cores
@pytest.mark.parametrize("page", _docs_pages_with_python(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_python_blocks_run(page):
    """A page's ```python blocks, in order, in one namespace, as a reader pasting them
    would (with JAX's default dtype promotion, as the README's)."""
    namespace: dict = {}
    with jax.numpy_dtype_promotion("standard"):
        for block in blocks_of("python", [page]):
            try:
                exec(compile(block.text, block.where, "exec"), namespace)
            except Exception as e:  # name the block that failed
                raise AssertionError(f"{block.where} failed:\n{block.text}") from e


def test_a_busy_coordinator_port_is_replaced_in_every_process():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argvs = tuple(
            ("python", "-m", "examples.lm", "--coordinator", f"127.0.0.1:{port}", "--process-id", k)
            for k in ("0", "1")
        )
        new = _with_free_port(argvs)
    assert new[0][4] == new[1][4] != f"127.0.0.1:{port}"
    assert new[0][4].startswith("127.0.0.1:")
    assert [a[:4] + a[5:] for a in new] == [a[:4] + a[5:] for a in argvs]


def test_a_command_without_a_rule_has_none():
    def rules(line, info="bash"):
        return [rules_for(c) for c in commands(Block(ROOT / "README.md", 1, info, line + "\n"))]

    assert rules("make docs") == [[]]
    assert rules("python train.py --epochs 1") == [[]]
    assert rules("pip install jaxloss") == [[]]
    assert rules("curl -O https://example.com/x", "bash reference") == [[]]
    assert rules("srun python -m examples.mnist --lr 1", "bash reference") == [["reference flags"]]
    assert rules('pip install -e ".[docs]" && python -m pytest -n 0') == [
        ["pip extras"], ["pytest flags"]
    ]
