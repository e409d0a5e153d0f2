"""The error boundary of every command: one line on the terminal, the traceback in a log.

Every ``python -m nasjax.<command>`` runs inside :func:`error_boundary`. A
problem nasjax recognises (:class:`~nasjax.errors.NasjaxError`: a bad
config, missing or malformed data, an unusable checkpoint, a diverged run)
ends the process with its sentence alone; anything else that escapes — an
operating-system error (no space left, read-only disk, not a directory,
permission denied) or an exception from JAX, orbax or tfds — ends it with
one sentence saying what failed and what to do (:func:`explain`), while the
full traceback goes to ``WORKDIR/error.log`` (printed too with
``--verbose``). After that line the process's standard error is redirected
into the log, so that background threads (orbax's asynchronous writers)
cannot print after it (when the boundary runs a command, not inside a test or
a notebook whose stderr is captured). Exit statuses: 1 for an error during the run, 130
after Ctrl-C.

Example:
  >>> import errno
  >>> explain(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/run"))
  '/mnt/ro/run is on a read-only file system: give a --workdir on a writable disk'
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

from nasjax.errors import NasjaxError

#: The name of the traceback log a failed command leaves in its workdir.
ERROR_LOG = "error.log"

# errno -> (text patterns of libraries that wrap the error in their own type, the sentence).
_OS_ERRORS: dict[int, tuple[tuple[str, ...], str]] = {
  errno.ENOSPC: (
    ("no space left on device",),
    "no space left on the device holding {path}: free some space and rerun the same command "
    "(it resumes from the last complete checkpoint)",
  ),
  errno.EDQUOT: (
    ("disk quota exceeded",),
    "the disk quota is exceeded for {path}: free some space and rerun the same command "
    "(it resumes from the last complete checkpoint)",
  ),
  errno.EROFS: (
    ("read-only file system",),
    "{path} is on a read-only file system: give a --workdir on a writable disk",
  ),
  errno.EACCES: (
    ("permission denied",),
    "permission denied for {path}: give a --workdir you can write to, or fix its permissions",
  ),
  errno.EPERM: (
    ("operation not permitted",),
    "operation not permitted on {path}: give a --workdir you can write to",
  ),
  errno.ENOTDIR: (
    ("not a directory",),
    "{path} cannot be used: part of that path is a file, not a folder; give a --workdir "
    "whose parents are folders",
  ),
  errno.EEXIST: (
    ("file exists",),
    "{path} already exists as a file, not a folder: give a --workdir that is a folder or "
    "does not exist yet",
  ),
  errno.EISDIR: (
    ("is a directory",),
    "{path} is a folder where a file was expected: pass the file's path",
  ),
  errno.ENOENT: (
    (),  # too generic a phrase to match in other libraries' messages
    "{path} does not exist: check the path",
  ),
  errno.EFBIG: (
    ("file too large",),
    "a file under {path} would exceed the largest file allowed (ulimit -f or the file "
    "system's limit): raise the limit or use a --workdir on another disk, then rerun the "
    "same command (it resumes from the last complete checkpoint)",
  ),
  errno.EMFILE: (
    ("too many open files",),
    "too many open files: raise the limit (ulimit -n) and rerun the same command",
  ),
}


def explain(error: BaseException) -> str | None:
  """One sentence for an operating-system failure anywhere in ``error``'s chain, or None.

  The chain is followed through ``__cause__`` and ``__context__``; besides
  :class:`OSError` and its ``errno``, the messages of libraries that wrap the
  error in their own type (orbax, TensorStore: ``RESOURCE_EXHAUSTED ... No
  space left on device``) are recognised.
  """
  seen: set[int] = set()
  current: BaseException | None = error
  while current is not None and id(current) not in seen:
    seen.add(id(current))
    if isinstance(current, OSError) and current.errno in _OS_ERRORS:
      path = current.filename or _path_in(str(current)) or "the workdir"
      return _OS_ERRORS[current.errno][1].format(path=path)
    text = str(current).lower()
    code = re.search(r"os_error_code='?(\d+)", text)  # TensorStore's report of the errno
    if code and int(code.group(1)) in _OS_ERRORS:
      return _OS_ERRORS[int(code.group(1))][1].format(path=_path_in(str(current)) or "the workdir")
    for patterns, sentence in _OS_ERRORS.values():
      if any(p in text for p in patterns):
        return sentence.format(path=_path_in(str(current)) or "the workdir")
    current = current.__cause__ or current.__context__
  return None


def _path_in(text: str) -> str | None:
  """The first absolute path quoted or named in ``text`` (library messages), if any."""
  found = re.search(r"""['"](/[^'"]+)['"]""", text) or re.search(r"(/[\w./@+-]+)", text)
  if not found:
    return None
  return re.sub(r"/[^/]*\.orbax-checkpoint-tmp.*$", "", found.group(1))  # the checkpoints folder


def short(error: BaseException) -> str:
  """``Type: first line of the message`` (object reprs cut, at most 200 characters)."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  text = lines[0] if lines else ""
  while re.search(r"<[^<>]*>", text):  # object reprs, innermost first
    text = re.sub(r"<[^<>]*>", "…", text)
  text = re.sub(r"…+", "…", text)
  text = text if len(text) <= 200 else text[:199] + "…"
  return f"{type(error).__name__}: {text}" if text else type(error).__name__


def log_path(workdir: str | os.PathLike | None, program: str) -> Path:
  """Where a failure's traceback goes: ``WORKDIR/error.log``, or the temporary folder.

  The workdir is used only when it is an existing, writable folder (a run
  refused before it started leaves no new folder behind).
  """
  if workdir:
    folder = Path(str(workdir).split(",")[0]).expanduser()
    if folder.is_dir() and os.access(folder, os.W_OK):
      return folder / ERROR_LOG
  return Path(tempfile.gettempdir()) / f"{program}-{ERROR_LOG}"


@contextlib.contextmanager
def error_boundary(
  program: str, workdir: str | os.PathLike | None, verbose: bool = False
) -> Iterator[None]:
  """Runs the body; any exception ends the process with one line (see the module docstring).

  Args:
    program: the command's name, the prefix of the line (``nasjax.search``).
    workdir: the command's output folder (the first of a comma-separated list is used).
    verbose: also print the traceback on the terminal.

  Raises:
    SystemExit: 1 after an error, 130 after Ctrl-C (other ``SystemExit`` pass through).
  """
  if _standalone():
    _log_background_errors(workdir, program)
  try:
    yield
  except SystemExit:
    raise
  except KeyboardInterrupt:
    where = f" in {workdir}" if workdir else ""
    message = f"interrupted; rerun the same command to continue from the last checkpoint{where}"
    _finish(program, message, 130, None, verbose)
  except NasjaxError as e:  # the sentence is the whole story; no log
    _finish(program, str(e), 1, None, verbose)
  except Exception as e:  # the boundary: whatever escapes becomes one line
    log = _write_log(workdir, program, e)
    sentence = explain(e) or f"unexpected {short(e)}"
    where = f"the full traceback is in {log}" if log else "rerun with --verbose for the traceback"
    _finish(program, f"{sentence} ({where}; --verbose prints it)", 1, log, verbose)


def _log_background_errors(workdir: str | os.PathLike | None, program: str) -> None:
  """Sends errors that other threads report (not raise) to the log instead of the terminal.

  TensorStore's threads report a failed asynchronous write through
  ``sys.excepthook`` (dozens of "Event loop is closed" tracebacks), orbax
  logs it at ERROR with its traceback, asyncio
  reports abandoned coroutines through ``sys.unraisablehook`` and worker
  threads through ``threading.excepthook``; the error that matters reaches
  the main thread on the next save and gets its one line there.
  """

  def to_log(kind: str, text: str) -> None:
    try:
      with open(log_path(workdir, program), "a", encoding="utf-8") as f:
        f.write(f"--- {kind} (reported by a background thread)\n{text}\n")
    except OSError:
      pass

  def excepthook(kind, value, tb) -> None:
    to_log("error", "".join(traceback.format_exception(kind, value, tb)))

  def unraisablehook(info) -> None:
    detail = traceback.format_exception(info.exc_type, info.exc_value, info.exc_traceback)
    to_log(f"ignored in {info.object!r}", "".join(detail))

  def thread_hook(args) -> None:
    detail = traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
    to_log(f"thread {getattr(args.thread, 'name', '?')}", "".join(detail))

  class ErrorsToLog(logging.Filter):
    """orbax logs its background failures (with tracebacks) at ERROR through absl."""

    def filter(self, record: logging.LogRecord) -> bool:
      if record.levelno < logging.ERROR:
        return True
      to_log(f"logged by {record.name}", logging.Formatter().format(record))
      return False

  sys.excepthook = excepthook
  sys.unraisablehook = unraisablehook
  threading.excepthook = thread_hook
  for name in ("absl", "orbax"):
    logging.getLogger(name).addFilter(ErrorsToLog())


def _write_log(
  workdir: str | os.PathLike | None, program: str, error: BaseException
) -> Path | None:
  """Appends ``error``'s traceback to the log; returns its path (None if it cannot be written)."""
  text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
  path = log_path(workdir, program)
  try:
    with open(path, "a", encoding="utf-8") as f:
      f.write(f"--- {program} {' '.join(sys.argv[1:])}\n{text}\n")
  except OSError:
    return None
  return path


def _finish(
  program: str,
  message: str,
  code: int,
  log: Path | None,
  verbose: bool,
) -> None:
  """Prints the line (the traceback first with ``verbose``), then silences stderr and exits."""
  if verbose and sys.exc_info()[0] is not None:
    traceback.print_exc()
  kind = "error: " if code != 130 else ""  # Ctrl-C is the user's wish, not an error
  print(f"{program}: {kind}{message}", file=sys.stderr, flush=True)
  if _standalone():
    _silence_stderr(log)
  raise SystemExit(code) from None


def _standalone() -> bool:
  """Whether stderr is the process's own (a command), not captured (a test, a notebook).

  Only then does the boundary take over the process-wide hooks and stderr.
  """
  return sys.stderr is sys.__stderr__


def _silence_stderr(log: Path | None) -> None:
  """Sends everything written to stderr from now on into ``log`` (or nowhere)."""
  try:
    sys.stderr.flush()
    target = os.open(str(log) if log else os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(target, 2)
    os.close(target)
  except OSError:
    return
  sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
