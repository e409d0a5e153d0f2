"""The command line of ``python -m nasjax.search`` and ``nasjax.retrain``: one-line errors.

Flags are parsed by absl with ``ml_collections.config_flags`` (the config is
locked, so a misspelt ``--config.<field>`` is an error). A user error (bad
config, missing data or genotype, unusable checkpoint, diverged run) ends the
process with ``nasjax.search: error: <what is wrong and how to fix it>`` (or
``nasjax.retrain: error: ...``) on stderr and a non-zero status: 2 for bad
flags, 1 for errors during the run, 130 after Ctrl-C. ``nasjax.retrain`` also
takes ``--genotype``: a genotype file or a published genotype's name.

A config with a ``distributed`` block joins a multi-process run
(:func:`nasjax.infra.distributed.initialize`, driven by that block and the
``NASJAX_*`` environment variables) after the flags are parsed and before
the run starts; a plain single-process run is unaffected. Before anything
else the process restarts once with huge pages for the host allocator
(:mod:`nasjax.infra.host_memory`; ``NASJAX_HUGE_PAGES=0`` turns that off).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable

from nasjax.errors import DataNotFoundError, NasjaxError
from nasjax.infra import distributed
from nasjax.infra.checkpoint import CheckpointError
from nasjax.infra.host_memory import reexec_with_huge_pages


def _fail(message: str, code: int, program: str = "nasjax.search") -> None:
  print(f"{program}: error: {message}", file=sys.stderr, flush=True)
  raise SystemExit(code)


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


def main(
  run: Callable[..., object],
  program: str = "nasjax.search",
  example: str = "configs/nb201/darts_1st.py:runlocal",
  genotype: bool | str = False,
  default_config: object | None = None,
  choice: tuple[str, tuple[str, ...], str] | None = None,
  command: tuple[tuple[str, ...], str] | None = None,
) -> None:
  """Parses ``--config``/``--workdir``, calls ``run`` and turns user errors into one line.

  Args:
    run: the entry point, :func:`nasjax.search.run` (called as ``run(config,
      workdir)``) or :func:`nasjax.retrain.run` (``run(config, genotype, workdir)``).
    program: the module name, the prefix of error lines.
    example: a config argument shown in the help and in the missing-``--config`` error.
    genotype: define the required ``--genotype`` flag and pass its value to ``run``
      (a string: the flag's help text).
    default_config: a ConfigDict to override with ``--config.<field>=...``
      instead of a ``--config`` file (``nasjax.select``).
    choice: ``(flag, values, help)``: a required enum flag whose value is
      passed to ``run`` last (``--method`` of ``nasjax.select``).
    command: ``(values, help)``: a required positional sub-command passed
      to ``run`` last (``nasjax.analyze hessian``).
  """
  from absl import app, flags
  from absl import logging as absl_logging
  from ml_collections import config_flags

  reexec_with_huge_pages()  # before any computation; a no-op once set
  fail = functools.partial(_fail, program=program)
  kind = program.rpartition(".")[2]
  if default_config is None:
    config_flag = config_flags.DEFINE_config_file(
      "config", None, f"{kind} config file, e.g. {example}", lock_config=True
    )
  else:
    try:  # overrides of a config dict are parsed here, at definition
      config_flag = config_flags.DEFINE_config_dict(
        "config", default_config, f"{kind} settings, as --config.<field>=<value>", lock_config=True
      )
    except (AttributeError, KeyError) as e:
      fail(_unknown_field(str(e), sys.argv), 2)
    except (flags.Error, TypeError, ValueError) as e:
      text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      fail(f"{text} (see --helpfull for the settings)", 2)
  chosen: dict[str, str] = {}
  choice_flag = None
  if choice is not None:
    choice_flag = flags.DEFINE_enum(choice[0], None, list(choice[1]), choice[2])
  workdir_flag = flags.DEFINE_string(
    "workdir", None, f"output folder; re-running with the same folder resumes the {kind}"
  )
  genotype_flag = None
  if genotype:
    genotype_flag = flags.DEFINE_string(
      "genotype",
      None,
      genotype
      if isinstance(genotype, str)
      else "the architecture: a genotype file (a search's genotype.json, a genotype JSON, or a "
      "DARTS Genotype(...) string) or a published genotype's name (DARTS_V1, DARTS_V2, PC_DARTS)",
    )

  def parse(argv: list[str]) -> list[str]:
    try:
      rest = flags.FLAGS(argv)
      config = config_flag.value
      if config is not None:
        config.get("seed")  # a file config_flags could not load raises on first access
    except NasjaxError as e:
      fail(str(e), 2)
    except (AttributeError, KeyError) as e:  # a --config.<field> the config does not have
      fail(_unknown_field(str(e), argv), 2)
    except (flags.Error, TypeError, ValueError) as e:
      cause = _nasjax_cause(e)
      if cause is not None:  # e.g. an unknown variant, raised by the config file
        # config_flags re-raises it with the traceback in the message; its last line is ours.
        last = str(cause).strip().splitlines()[-1]
        fail(last.split(f"{type(cause).__name__}: ", 1)[-1], 2)
      text = str(e).strip().strip('"').splitlines()[0] if str(e).strip() else type(e).__name__
      fail(f"{text} (see --helpfull for the flags and the config file for its fields)", 2)
    except Exception as e:  # the config file is missing or does not run
      lines = [line.strip() for line in str(e).splitlines() if line.strip()]
      why = next((line for line in lines if line.startswith("[Errno")), None)
      why = why or f"{type(e).__name__}: {lines[-1] if lines else ''}".rstrip(": ")
      if isinstance(e, SyntaxError):
        why = f"SyntaxError at line {e.lineno}: {e.msg}"
      path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "?")
      fail(f"cannot load the config file {path} ({why}); fix it or give an existing file", 2)
    if command is not None:
      if len(rest) < 2 or rest[1] not in command[0]:
        got = f" (got {rest[1]!r})" if len(rest) > 1 else ""
        fail(f"give a command first: one of {', '.join(command[0])}{got}", 2)
      chosen["command"] = rest[1]
      rest = rest[:1] + rest[2:]
    if len(rest) > 1:
      fail(f"unexpected arguments {rest[1:]}; pass settings as --config.<field>=<value>", 2)
    if not workdir_flag.value:
      fail("--workdir is required: the folder for checkpoints and results", 2)
    if config is None:
      fail(f"--config is required, e.g. --config={example}", 2)
    if genotype_flag is not None and not genotype_flag.value:
      fail("--genotype is required: a genotype file or a name such as DARTS_V2", 2)
    if choice_flag is not None and not choice_flag.value:
      fail(f"--{choice[0]} is required: one of {', '.join(choice[1])}", 2)
    return rest

  def entry(argv: list[str]) -> None:
    del argv
    if not flags.FLAGS["verbosity"].present:
      # JAX (absent accelerator plugins) and tfds (dataset info) report at INFO; the run
      # has its own progress output.
      logging.getLogger("jax").setLevel(logging.WARNING)
      absl_logging.set_verbosity(absl_logging.WARNING)
    try:
      config = config_flag.value
      if config is not None and "distributed" in config:
        distributed.initialize(config.distributed)  # before any JAX computation
      if command is not None:
        run(config_flag.value, workdir_flag.value, chosen["command"])
      elif choice_flag is not None:
        run(config_flag.value, workdir_flag.value, choice_flag.value)
      elif genotype_flag is None:
        run(config_flag.value, workdir_flag.value)
      else:
        run(config_flag.value, genotype_flag.value, workdir_flag.value)
    except (NasjaxError, CheckpointError, DataNotFoundError) as e:
      fail(str(e), 1)
    except KeyboardInterrupt:
      raise SystemExit(130) from None

  app.run(entry, flags_parser=parse)
