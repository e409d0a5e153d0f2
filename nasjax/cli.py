"""The command line of the absl-flag programs (``python -m nasjax.search``, ...): one-line errors.

Each program is a :class:`Command` record: its name, the function it runs
and the flags it takes besides ``--config`` and ``--workdir``; :func:`main`
parses the flags and runs it. Flags are parsed by absl with
``ml_collections.config_flags`` (the config is locked, so a misspelt
``--config.<field>`` is an error). Bad flags end the process with
``nasjax.search: error: <what is wrong and how to fix it>`` (the program's
name first) on stderr and status 2; the run itself is inside
:func:`nasjax.boundary.error_boundary` (status 1 for any error, with one
line and the traceback in ``WORKDIR/error.log``; 130 after Ctrl-C).

A config with a ``distributed`` block joins a multi-process run
(:func:`nasjax.infra.distributed.initialize`, driven by that block and the
``NASJAX_*`` environment variables) after the flags are parsed and before
the run starts; a plain single-process run is unaffected. Before anything
else the process restarts once with huge pages for the host allocator
(:mod:`nasjax.infra.host_memory`; ``NASJAX_HUGE_PAGES=0`` turns that off)
and XLA's C++ log lines hidden (:func:`quiet_native_logging`; ``--verbose``
or a ``TF_CPP_MIN_LOG_LEVEL`` of the user's own shows them).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from nasjax import _process_start
from nasjax.boundary import ERROR_LOG, error_boundary
from nasjax.config.resume import plain_values, values_yaml
from nasjax.errors import NasjaxError
from nasjax.infra import distributed
from nasjax.infra.host_memory import reexec_with_huge_pages

#: The help of ``--genotype`` (retraining a DARTS genotype).
GENOTYPE_HELP = (
  "the architecture: a genotype file (a search's genotype.json, a genotype JSON, or a "
  "DARTS Genotype(...) string) or a published genotype's name (DARTS_V1, DARTS_V2, PC_DARTS)"
)


#: The help of ``--show_config``.
SHOW_CONFIG_HELP = "print the resolved config as YAML (overrides applied) and exit"


@dataclasses.dataclass(frozen=True)
class Command:
  """One absl-flag program: what it runs and the flags it takes.

  Attributes:
    program: the module name, the prefix of error lines (``nasjax.search``).
    run: the entry point, called as ``run(config, workdir)``; with
      ``genotype`` as ``run(config, genotype, workdir)``; with ``choice`` or
      ``subcommand`` as ``run(config, workdir, value)``.
    example: a config argument shown in the help and in the missing-``--config`` error.
    genotype: the help of a required ``--genotype`` flag (empty: no such flag).
    default_config: a ConfigDict to override with ``--config.<field>=...``
      instead of a ``--config`` file (``nasjax.select`` and ``nasjax.analyze``).
    choice: ``(flag, values, help)``: a required enum flag whose value is
      passed to ``run`` last (``--method`` of ``nasjax.select``).
    subcommand: ``(values, help)``: a required positional sub-command passed
      to ``run`` last (``nasjax.analyze hessian``).
  """

  program: str
  run: Callable[..., Any]
  example: str = "configs/nb201/darts_1st.py:runlocal"
  genotype: str = ""
  default_config: Any = None
  choice: tuple[str, tuple[str, ...], str] | None = None
  subcommand: tuple[tuple[str, ...], str] | None = None

  @property
  def kind(self) -> str:
    """What the program runs, for help texts: ``search``, ``retrain``, ..."""
    return self.program.rpartition(".")[2]


#: The variable XLA's C++ logging reads; 3 keeps only fatal messages.
NATIVE_LOG_ENV = "TF_CPP_MIN_LOG_LEVEL"


def quiet_native_logging(
  environ: MutableMapping[str, str], verbose: bool = False, user_level: str | None = None
) -> bool:
  """Hides XLA's C++ log lines (e.g. ``slow_operation_alarm`` blocks) unless asked for.

  XLA prints its compiler's notes (a constant folded slowly, a slow
  compile) as multi-line ``E...`` blocks on stderr; errors that stop a run
  reach Python as exceptions either way, so a command line run hides them.
  A value the user set for the variable is kept, and ``--verbose`` shows
  them. XLA reads the variable when it loads, so :func:`main` restarts the
  process once after setting it (with huge pages, :mod:`nasjax.infra.host_memory`).

  Args:
    environ: the environment to update (``os.environ``).
    verbose: whether ``--verbose`` was given.
    user_level: the variable's value when the process started, before jax's
      import set a default of its own.

  Returns:
    Whether the variable was set here.

  Example:
    >>> env = {}
    >>> quiet_native_logging(env), env
    (True, {'TF_CPP_MIN_LOG_LEVEL': '3'})
    >>> env = {'TF_CPP_MIN_LOG_LEVEL': '0'}
    >>> quiet_native_logging(env, user_level='0'), env
    (False, {'TF_CPP_MIN_LOG_LEVEL': '0'})
    >>> env = {}
    >>> quiet_native_logging(env, verbose=True), env
    (False, {})
  """
  if verbose or user_level is not None or environ.get(NATIVE_LOG_ENV) == "3":
    return False
  environ[NATIVE_LOG_ENV] = "3"
  return True


def main(command: Command, argv: list[str] | None = None) -> None:
  """Runs ``command`` from the command line ``argv`` (``sys.argv`` by default).

  The steps: restart with huge pages, define the flags, parse them (bad flags
  end with status 2), quieten INFO logging, join a multi-process run, call
  ``command.run``; a user error ends with one line and status 1.
  """
  args = sys.argv if argv is None else argv
  if any(a in ("--help", "-h", "-?", "--helpshort") for a in args[1:]):
    print(help_text(command))
    raise SystemExit(0)
  quieted = quiet_native_logging(
    os.environ, verbose="--verbose" in args[1:], user_level=_process_start.NATIVE_LOG_LEVEL
  )
  # before any computation; a no-op once set. XLA reads its log level when
  # it loads, so a command line run restarts for it too (not a call from Python).
  reexec_with_huge_pages(restart_anyway=quieted and argv is None)
  defined = _define_flags(command)

  def parse(argv: list[str]) -> list[str]:
    rest = _parse_flags(command, defined, argv)
    if defined.show_config.value:
      _show_config(command, defined)
    rest = _take_subcommand(command, defined, rest)
    _check_required(command, defined, rest)
    return rest

  def entry(argv: list[str]) -> None:
    del argv
    _quiet_logging()
    with error_boundary(command.program, defined.workdir.value, defined.verbose.value):
      config = defined.config.value
      if config is not None and "distributed" in config:
        distributed.initialize(config.distributed)  # before any JAX computation
      command.run(*_run_args(command, defined))

  try:
    app.run(entry, argv=argv, flags_parser=parse)
  except KeyboardInterrupt:  # Ctrl-C while the flags are parsed or the config file loads
    print(f"{command.program}: interrupted before the run started", file=sys.stderr, flush=True)
    raise SystemExit(130) from None


@dataclasses.dataclass
class _Flags:
  """The flag holders of one program, and the values its parser takes from the rest."""

  config: Any
  workdir: Any
  verbose: Any
  show_config: Any
  genotype: Any = None
  choice: Any = None
  subcommand: str | None = None


def help_text(command: Command) -> str:
  """What ``--help`` prints: usage, the program's own flags, an example, how to see the fields."""
  prog = f"python -m {command.program}"
  sub = f" {{{','.join(command.subcommand[0])}}}" if command.subcommand else ""
  config = (
    "[--config.<field>=VALUE ...]"
    if command.default_config is not None
    else ("--config=FILE[:VARIANT] [--config.<field>=VALUE ...]")
  )
  rows = []
  if command.subcommand:
    rows.append(("COMMAND", f"{command.subcommand[1]}: one of {', '.join(command.subcommand[0])}"))
  if command.default_config is None:
    rows.append(("--config", f"{command.kind} config file, e.g. {command.example}"))
  else:
    rows.append(("--config.<field>", f"a setting of the {command.kind} (--show_config lists them)"))
  rows.append(
    ("--workdir", f"output folder; re-running with the same folder resumes the {command.kind}")
  )
  if command.genotype:
    rows.append(("--genotype", command.genotype))
  if command.choice is not None:
    name, values, help_ = command.choice
    rows.append((f"--{name}", f"{help_}: one of {', '.join(values)}"))
  rows += [
    ("--show_config", SHOW_CONFIG_HELP),
    ("--verbose", "on an error, also print the traceback (kept in WORKDIR/error.log)"),
    ("--helpfull", "every flag, those of absl and the libraries included"),
  ]
  extra = {"nasjax.retrain": " --genotype=DARTS_V2", "nasjax.sr_retrain": " --genotype=IMDN"}
  extra.update({"nasjax.seg_retrain": " --genotype=GENOTYPE.json"})
  example = f"{prog}{sub.replace('{', '').split(',')[0] if sub else ''}"
  if command.default_config is None:
    example += f" --config={command.example}"
  example += extra.get(command.program, "")
  if command.choice is not None:
    example += f" --{command.choice[0]}={command.choice[1][0]}"
  width = max(len(name) for name, _ in rows) + 2
  lines = [f"usage: {prog}{sub} {config} --workdir=DIR", "", "flags:"]
  lines += [f"  {name.ljust(width)}{text}" for name, text in rows]
  lines += ["", "example:", f"  {example} --workdir=/tmp/{command.kind}"]
  lines += ["", "the config's fields and their values:", f"  {example} --show_config"]
  return "\n".join(lines)


def _show_config(command: Command, defined: _Flags) -> None:
  """Prints the resolved config as plain YAML and exits (status 0)."""
  config = defined.config.value
  if config is None:
    _fail(command, f"--show_config needs --config, e.g. --config={command.example}", 2)
  print(values_yaml(plain_values(config)), end="", flush=True)
  raise SystemExit(0)


def _fail(command: Command, message: str, code: int) -> None:
  print(f"{command.program}: error: {message}", file=sys.stderr, flush=True)
  raise SystemExit(code)


def _define_flags(command: Command) -> _Flags:
  """``--config`` (a file, or the program's own settings), ``--workdir`` and its own flags."""
  kind = command.kind
  if command.default_config is None:
    config = config_flags.DEFINE_config_file(
      "config", None, f"{kind} config file, e.g. {command.example}", lock_config=True
    )
  else:
    try:  # overrides of a config dict are parsed here, at definition
      config = config_flags.DEFINE_config_dict(
        "config",
        command.default_config,
        f"{kind} settings, as --config.<field>=<value>",
        lock_config=True,
      )
    except (AttributeError, KeyError) as e:
      _fail(command, _unknown_field(str(e), sys.argv), 2)
    except (flags.Error, TypeError, ValueError) as e:
      text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      _fail(command, f"{text} (see --helpfull for the settings)", 2)
  defined = _Flags(
    config=config,
    workdir=flags.DEFINE_string(
      "workdir", None, f"output folder; re-running with the same folder resumes the {kind}"
    ),
    show_config=flags.DEFINE_bool("show_config", False, SHOW_CONFIG_HELP),
    verbose=flags.DEFINE_bool(
      "verbose",
      False,
      f"on an error, print the full traceback (it is always in WORKDIR/{ERROR_LOG})",
    ),
  )
  if command.choice is not None:
    name, values, help_text = command.choice
    defined.choice = flags.DEFINE_enum(name, None, list(values), help_text)
  if command.genotype:
    defined.genotype = flags.DEFINE_string("genotype", None, command.genotype)
  return defined


def _parse_flags(command: Command, defined: _Flags, argv: list[str]) -> list[str]:
  """absl's parse of ``argv``, with every way it can fail turned into one line (status 2)."""
  try:
    rest = flags.FLAGS(argv)
    config = defined.config.value
    if config is not None:
      config.get("seed")  # a file config_flags could not load raises on first access
    return rest
  except NasjaxError as e:
    _fail(command, str(e), 2)
  except (AttributeError, KeyError) as e:  # a --config.<field> the config does not have
    if "get_config" in str(e):  # the file loaded, but it is not a config file
      path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "?")
      _fail(
        command,
        f"the config file {path} defines no get_config(); a config file defines "
        f"get_config() (or get_config(arg) for variants) returning a ConfigDict, e.g. "
        f"{command.example}",
        2,
      )
    _fail(command, _unknown_field(str(e), argv), 2)
  except (flags.Error, TypeError, ValueError) as e:
    cause = _nasjax_cause(e)
    if cause is not None:  # e.g. an unknown variant, raised by the config file
      # config_flags re-raises it with the traceback in the message; its last line is ours.
      last = str(cause).strip().splitlines()[-1]
      _fail(command, last.split(f"{type(cause).__name__}: ", 1)[-1], 2)
    text = str(e).strip().strip('"').splitlines()[0] if str(e).strip() else type(e).__name__
    _fail(command, f"{text} (see --helpfull for the flags and the config file for its fields)", 2)
  except Exception as e:  # the config file is missing or does not run
    _fail(command, _unloadable_config(e, argv), 2)
  raise AssertionError("unreachable")


def _take_subcommand(command: Command, defined: _Flags, rest: list[str]) -> list[str]:
  """The positional sub-command (``nasjax.analyze hessian``), taken off the rest."""
  if command.subcommand is None:
    return rest
  values = command.subcommand[0]
  if len(rest) < 2 or rest[1] not in values:
    got = f" (got {rest[1]!r})" if len(rest) > 1 else ""
    _fail(command, f"give a command first: one of {', '.join(values)}{got}", 2)
  defined.subcommand = rest[1]
  return rest[:1] + rest[2:]


def _check_required(command: Command, defined: _Flags, rest: list[str]) -> None:
  """No stray arguments; ``--workdir``, ``--config`` and the program's own flags given."""
  if len(rest) > 1:
    _fail(command, f"unexpected arguments {rest[1:]}; pass settings as --config.<field>=<value>", 2)
  if not defined.workdir.value:
    _fail(command, "--workdir is required: the folder for checkpoints and results", 2)
  if defined.config.value is None:
    _fail(command, f"--config is required, e.g. --config={command.example}", 2)
  if defined.genotype is not None and not defined.genotype.value:
    _fail(command, "--genotype is required: a genotype file or a name such as DARTS_V2", 2)
  if defined.choice is not None and not defined.choice.value:
    name, values, _ = command.choice
    _fail(command, f"--{name} is required: one of {', '.join(values)}", 2)


def _run_args(command: Command, defined: _Flags) -> tuple[Any, ...]:
  """The arguments of ``command.run`` (see :class:`Command`)."""
  config, workdir = defined.config.value, defined.workdir.value
  if defined.subcommand is not None:
    return config, workdir, defined.subcommand
  if defined.choice is not None:
    return config, workdir, defined.choice.value
  if defined.genotype is not None:
    return config, defined.genotype.value, workdir
  return config, workdir


def _quiet_logging() -> None:
  """JAX (absent accelerator plugins) and tfds (dataset info) log at INFO; runs print their own."""
  if not flags.FLAGS["verbosity"].present:
    logging.getLogger("jax").setLevel(logging.WARNING)
    absl_logging.set_verbosity(absl_logging.WARNING)


def _nasjax_cause(error: BaseException) -> NasjaxError | None:
  """The NasjaxError that ``error`` wraps (config files raise them inside flag parsing)."""
  seen = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, NasjaxError):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None


def _unknown_field(error: str, argv: list[str]) -> str:
  """The message for an override naming a field the config does not have."""
  error = error.replace("\\", "")  # the message may arrive repr-escaped, more than once
  found = re.search(r"'(\w+)'", error)
  key = found.group(1) if found else error
  hint = re.search(r'Did you mean "(\w+)"', error)
  fix = f"did you mean {hint.group(1)!r}?" if hint else "check its spelling against the config file"
  for arg in argv:
    name = arg.split("=", 1)[0]
    if name.startswith("--config.") and key in name.split("."):
      return f"the config has no field {name[len('--config.') :]!r} (from {name}); {fix}"
  return f"the config has no field {key!r}; {fix}"


def _unloadable_config(error: Exception, argv: list[str]) -> str:
  """The message for a config file that is missing or does not run."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  why = next((line for line in lines if line.startswith("[Errno")), None)
  why = why or f"{type(error).__name__}: {lines[-1] if lines else ''}".rstrip(": ")
  if isinstance(error, SyntaxError):
    why = f"SyntaxError at line {error.lineno}: {error.msg}"
  path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "?")
  return f"cannot load the config file {path} ({why}); fix it or give an existing file"
