"""The ``nasjax`` command: ``nasjax <command> [flags]``, one sub-command per program.

``nasjax search --config=... --workdir=...`` is ``python -m nasjax.search
--config=... --workdir=...``, and so on for every command of
:data:`COMMANDS`; ``pip install`` puts ``nasjax`` on the path, and
``python -m nasjax <command>`` does the same without it.
"""

from __future__ import annotations

import importlib
import sys

#: Each sub-command and the module whose ``main`` runs it.
COMMANDS = {
  "search": "nasjax.search",
  "select": "nasjax.select",
  "analyze": "nasjax.analyze",
  "retrain": "nasjax.retrain",
  "sr_retrain": "nasjax.sr_retrain",
  "seg_retrain": "nasjax.seg_retrain",
  "evaluate_sr": "nasjax.evaluate_sr",
  "evaluate_seg": "nasjax.evaluate_seg",
  "reproduce": "nasjax.reproduce",
}

USAGE = (
  "usage: nasjax <command> [flags]; commands: "
  + ", ".join(COMMANDS)
  + ("\n(`nasjax <command> --help` for the flags of one)")
)


def main(argv: list[str] | None = None) -> None:
  """Runs the sub-command named first in ``argv`` (``sys.argv[1:]`` by default)."""
  args = sys.argv[1:] if argv is None else list(argv)
  if not args or args[0] in ("-h", "--help", "help"):
    print(USAGE)
    raise SystemExit(0 if args else 2)
  name, rest = args[0].replace("-", "_"), args[1:]
  if name not in COMMANDS:
    print(f"nasjax: error: unknown command {args[0]!r}\n{USAGE}", file=sys.stderr)
    raise SystemExit(2)
  # The command's module is imported only now: each pulls in what its runs need.
  command = importlib.import_module(COMMANDS[name])
  sys.argv = [f"nasjax {name}", *rest]
  command.main([sys.argv[0], *rest] if _takes_program(name) else rest)


def _takes_program(name: str) -> bool:
  """Whether the command's ``main`` takes the program name first (absl) or not (argparse)."""
  return name not in ("evaluate_sr", "evaluate_seg", "reproduce")


if __name__ == "__main__":
  main()
