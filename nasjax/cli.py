"""The command line of ``python -m nasjax.search``: flags in, one-line errors out.

Flags are parsed by absl with ``ml_collections.config_flags`` (the config is
locked, so a misspelt ``--config.<field>`` is an error). A user error (bad
config, missing data, unusable checkpoint, diverged run) ends the process
with ``nasjax.search: error: <what is wrong and how to fix it>`` on stderr and
a non-zero status: 2 for bad flags, 1 for errors during the run, 130 after
Ctrl-C.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable

import ml_collections

from nasjax.checkpoint import CheckpointError
from nasjax.errors import DataNotFoundError, NasjaxError


def _fail(message: str, code: int) -> None:
  print(f"nasjax.search: error: {message}", file=sys.stderr, flush=True)
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


def main(run: Callable[[ml_collections.ConfigDict, str], object]) -> None:
  """Parses ``--config``/``--workdir``, calls ``run`` and turns user errors into one line.

  Args:
    run: the search entry point, :func:`nasjax.search.run`.
  """
  from absl import app, flags
  from absl import logging as absl_logging
  from ml_collections import config_flags

  config_flag = config_flags.DEFINE_config_file(
    "config",
    None,
    "search config file, e.g. configs/nb201/darts_1st.py[:runlocal]",
    lock_config=True,
  )
  workdir_flag = flags.DEFINE_string(
    "workdir", None, "output folder; re-running with the same folder resumes the search"
  )

  def parse(argv: list[str]) -> list[str]:
    try:
      rest = flags.FLAGS(argv)
      config = config_flag.value
      if config is not None:
        config.get("seed")  # a file config_flags could not load raises on first access
    except NasjaxError as e:
      _fail(str(e), 2)
    except (AttributeError, KeyError) as e:  # a --config.<field> the config does not have
      _fail(_unknown_field(str(e), argv), 2)
    except (flags.Error, TypeError, ValueError) as e:
      cause = _nasjax_cause(e)
      if cause is not None:  # e.g. an unknown variant, raised by the config file
        # config_flags re-raises it with the traceback in the message; its last line is ours.
        last = str(cause).strip().splitlines()[-1]
        _fail(last.split(f"{type(cause).__name__}: ", 1)[-1], 2)
      text = str(e).strip().strip('"').splitlines()[0] if str(e).strip() else type(e).__name__
      _fail(f"{text} (see --helpfull for the flags and the config file for its fields)", 2)
    except Exception as e:  # the config file is missing or does not run
      lines = [line.strip() for line in str(e).splitlines() if line.strip()]
      why = next((line for line in lines if line.startswith("[Errno")), None)
      why = why or f"{type(e).__name__}: {lines[-1] if lines else ''}".rstrip(": ")
      if isinstance(e, SyntaxError):
        why = f"SyntaxError at line {e.lineno}: {e.msg}"
      path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "?")
      _fail(f"cannot load the config file {path} ({why}); fix it or give an existing file", 2)
    if len(rest) > 1:
      _fail(f"unexpected arguments {rest[1:]}; pass settings as --config.<field>=<value>", 2)
    if not workdir_flag.value:
      _fail("--workdir is required: the folder for checkpoints and results", 2)
    if config is None:
      _fail("--config is required, e.g. --config=configs/nb201/darts_1st.py:runlocal", 2)
    return rest

  def entry(argv: list[str]) -> None:
    del argv
    if not flags.FLAGS["verbosity"].present:
      # JAX (absent accelerator plugins) and tfds (dataset info) report at INFO; the run
      # has its own progress output.
      logging.getLogger("jax").setLevel(logging.WARNING)
      absl_logging.set_verbosity(absl_logging.WARNING)
    try:
      run(config_flag.value, workdir_flag.value)
    except (NasjaxError, CheckpointError, DataNotFoundError) as e:
      _fail(str(e), 1)
    except KeyboardInterrupt:
      raise SystemExit(130) from None

  app.run(entry, flags_parser=parse)
