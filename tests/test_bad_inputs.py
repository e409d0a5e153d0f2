# ruff: noqa: E501  (the case tables read best one case per line)
"""Bad input to every command: one error line, no traceback, and a good workdir left intact.

Each case runs a real command as a user would, on real files made bad in
a temporary folder, and asserts: a non-zero exit status, exactly one line
``nasjax.<command>: error: ...`` on stderr containing the expected words, no
traceback (nor orbax's "Exception ignored" noise) anywhere in the output.
The cases that hit an existing search workdir then check that it still
resumes to the same result as before.
"""

from __future__ import annotations

import errno
import gzip
import json
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, assert_ok, cli_env, data_dir, run_module

from nasjax.boundary import explain, log_path, short

SEARCH = "configs/nb201/darts_1st.py:runlocal"
RETRAIN = "configs/retrain/cifar10.py:runlocal"


def _assert_one_line(out, program: str, *fragments: str) -> str:
  """The single error line of a failed command (asserting the contract above)."""
  text = out.stdout + out.stderr
  assert out.returncode != 0, text[-3000:]
  assert "Traceback" not in text and "Exception ignored" not in text, text[-3000:]
  lines = [ln for ln in out.stderr.splitlines() if ln.startswith(f"{program}: error:")]
  assert len(lines) == 1, out.stderr[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


# -- bad files, made once from the real data -----------------------------------------------------


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
  """Bad data, config and genotype files, each named for what is wrong with it."""
  root = tmp_path_factory.mktemp("bad")
  real = dict(np.load(data_dir() / "cifar10_subset.npz"))
  files: dict[str, Path] = {}

  def npz(name: str, **changes) -> None:
    arrays = {**real, **changes}
    files[name] = root / f"{name}.npz"
    np.savez(files[name], **arrays)

  npz("few_labels", y_train=real["y_train"][:100])
  npz(
    "gray28",
    x_train=np.zeros((5085, 28, 28, 1), np.uint8),
    x_test=np.zeros((1017, 28, 28, 1), np.uint8),
  )
  npz("labels_out_of_range", y_train=(real["y_train"].astype(np.int64) + 10))
  npz("small_test_images", x_test=real["x_test"][:, ::2, ::2])
  files["empty"] = root / "empty.npz"
  files["empty"].write_bytes(b"")
  full = (data_dir() / "cifar10_subset.npz").read_bytes()
  files["truncated"] = root / "truncated.npz"
  files["truncated"].write_bytes(full[: len(full) // 2])
  files["bad_crc"] = root / "bad_crc.npz"
  damaged = bytearray(full)
  damaged[len(full) // 3] ^= 0xFF  # inside x_train's stored bytes: its CRC no longer matches
  files["bad_crc"].write_bytes(bytes(damaged))
  files["text"] = root / "text.npz"
  files["text"].write_text("these are not arrays\n")
  table = (data_dir() / "nb201.csv.gz").read_bytes()
  rows = gzip.decompress(table).decode().splitlines()[:101]
  files["table100"] = root / "table100.csv.gz"
  files["table100"].write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
  files["no_get_config"] = root / "no_get_config.py"
  files["no_get_config"].write_text("x = 1\n")
  files["syntax"] = root / "syntax.py"
  files["syntax"].write_text("def get_config(:\n")
  files["a_file"] = root / "a_file"
  files["a_file"].write_text("a file, not a folder\n")
  files["garbage_genotype"] = root / "garbage.json"
  files["garbage_genotype"].write_text("{not json")
  files["nb201_genotype"] = root / "nb201_genotype.json"
  files["nb201_genotype"].write_text(
    json.dumps(
      {
        "space": "nb201",
        "arch_str": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|"
        "nor_conv_3x3~1|nor_conv_3x3~2|",
      }
    )
  )
  files["empty_dir"] = root / "empty_dir"
  files["empty_dir"].mkdir()
  return files


# -- the table -----------------------------------------------------------------------------------

# (id, program, arguments with {name} for a bad file and {w} for a fresh workdir, fragments)
CASES: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
  # search: data files
  ("npz_few_labels", "search", (f"--config={SEARCH}", "--config.data.path={few_labels}"), ("few_labels.npz",)),
  ("npz_gray_28x28", "search", (f"--config={SEARCH}", "--config.data.path={gray28}"), ("gray28.npz",)),
  ("npz_empty", "search", (f"--config={SEARCH}", "--config.data.path={empty}"), ("empty.npz",)),
  ("npz_truncated", "search", (f"--config={SEARCH}", "--config.data.path={truncated}"), ("truncated.npz",)),
  ("npz_bad_crc", "search", (f"--config={SEARCH}", "--config.data.path={bad_crc}"), ("bad_crc.npz",)),
  ("npz_is_text", "search", (f"--config={SEARCH}", "--config.data.path={text}"), ("text.npz",)),
  ("npz_labels_out_of_range", "search", (f"--config={SEARCH}", "--config.data.path={labels_out_of_range}"), ("labels_out_of_range.npz",)),
  ("npz_test_images_smaller", "search", (f"--config={SEARCH}", "--config.data.path={small_test_images}"), ("small_test_images.npz",)),
  ("npz_missing", "search", (f"--config={SEARCH}", "--config.data.path=/nonexistent/x.npz"), ("/nonexistent/x.npz",)),
  ("nb201_table_100_rows", "search", (f"--config={SEARCH}", "--config.nb201_table={table100}"), ("table100.csv.gz",)),
  # search: config
  ("config_without_get_config", "search", ("--config={no_get_config}",), ("get_config",)),
  ("config_syntax_error", "search", ("--config={syntax}",), ("SyntaxError",)),
  ("config_missing", "search", ("--config=/nonexistent/config.py",), ("/nonexistent/config.py",)),
  ("config_unknown_field", "search", (f"--config={SEARCH}", "--config.epochz=3"), ("epochz",)),
  ("config_bad_value", "search", (f"--config={SEARCH}", "--config.epochs=-1"), ("epochs",)),
  ("config_unknown_variant", "search", ("--config=configs/nb201/darts_1st.py:nosuchvariant",), ("nosuchvariant",)),
  ("config_not_given", "search", (), ("--config",)),
  # search: workdir
  ("workdir_is_a_file", "search", (f"--config={SEARCH}", "--workdir={a_file}"), ("a_file", "not a folder")),
  ("workdir_under_a_file", "search", (f"--config={SEARCH}", "--workdir={a_file}/run"), ("a_file", "is a file")),
  ("workdir_not_given", "search", (f"--config={SEARCH}", "--workdir="), ("--workdir",)),
  # select
  ("select_empty_folder", "select", ("--workdir={empty_dir}", "--method=argmax"), ("empty_dir",)),
  ("select_missing_folder", "select", ("--workdir=/nonexistent/run", "--method=argmax"), ("/nonexistent/run",)),
  ("select_unknown_method", "select", ("--method=bogus",), ("bogus",)),
  ("select_no_method", "select", (), ("--method",)),
  ("select_unknown_field", "select", ("--method=pt", "--config.pt.nosuch=1"), ("nosuch",)),
  # retrain
  ("retrain_missing_genotype_file", "retrain", (f"--config={RETRAIN}", "--genotype=/nonexistent/g.json"), ("/nonexistent/g.json",)),
  ("retrain_garbage_genotype", "retrain", (f"--config={RETRAIN}", "--genotype={garbage_genotype}"), ("garbage.json",)),
  ("retrain_unknown_genotype_name", "retrain", (f"--config={RETRAIN}", "--genotype=DARTS_V9"), ("DARTS_V9",)),
  ("retrain_genotype_of_another_space", "retrain", (f"--config={RETRAIN}", "--genotype={nb201_genotype}"), ("nb201",)),
  ("retrain_workdir_is_a_file", "retrain", (f"--config={RETRAIN}", "--genotype=DARTS_V2", "--workdir={a_file}"), ("a_file",)),
  ("retrain_unknown_field", "retrain", (f"--config={RETRAIN}", "--genotype=DARTS_V2", "--config.optimizer.nosuch=1"), ("nosuch",)),
  ("retrain_data_missing", "retrain", (f"--config={RETRAIN}", "--genotype=DARTS_V2", "--config.data.path=/nonexistent/c.npz"), ("/nonexistent/c.npz",)),
  # analyze
  ("analyze_no_command", "analyze", (), ("hessian",)),
  ("analyze_unknown_command", "analyze", ("bogus",), ("bogus",)),
  ("analyze_hessian_empty_folder", "analyze", ("hessian", "--workdir={empty_dir}"), ("empty_dir",)),
  ("analyze_plots_missing_folder", "analyze", ("plots", "--workdir=/nonexistent/run"), ("/nonexistent/run",)),
  # super-resolution and segmentation
  ("sr_retrain_darts_genotype", "sr_retrain", ("--config=configs/sr/retrain.py:runlocal", "--genotype=DARTS_V2"), ("DARTS_V2",)),
  ("sr_retrain_missing_genotype", "sr_retrain", ("--config=configs/sr/retrain.py:runlocal", "--genotype=/nonexistent/s.json"), ("/nonexistent/s.json",)),
  ("seg_retrain_missing_genotype", "seg_retrain", ("--config=configs/seg/two_stage_retrain.py:runlocal", "--genotype=/nonexistent/s.json"), ("/nonexistent/s.json",)),
  ("seg_retrain_garbage_genotype", "seg_retrain", ("--config=configs/seg/two_stage_retrain.py:runlocal", "--genotype={garbage_genotype}"), ("garbage.json",)),
  ("evaluate_sr_no_network", "evaluate_sr", ("--workdir={empty_dir}", "--sets=/nonexistent/Set5"), ("empty_dir",)),
  ("evaluate_sr_missing_set", "evaluate_sr", ("--workdir={empty_dir}", "--sets={empty_dir}/Set5"), ()),
  ("evaluate_seg_no_network", "evaluate_seg", ("--workdir={empty_dir}",), ("empty_dir",)),
  ("evaluate_seg_missing_run", "evaluate_seg", ("--workdir=/nonexistent/run",), ("/nonexistent/run",)),
  # reproduce
  ("reproduce_unknown_method", "reproduce", ("nb201", "--methods=nosuch", "--scale=runlocal"), ("nosuch",)),
  ("reproduce_workdir_is_a_file", "reproduce", ("nb201", "--methods=darts_1st", "--scale=runlocal", "--workdir={a_file}"), ("a_file",)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line(case, bad, tmp_path):
  name, program, args, fragments = case
  args = tuple(a.format(**{k: str(v) for k, v in bad.items()}) for a in args)
  has_workdir = any(a.startswith("--workdir") for a in args)
  needs_workdir = program not in ("evaluate_sr", "evaluate_seg") or not has_workdir
  if needs_workdir and not has_workdir and name not in ("workdir_not_given",):
    args = (*args, f"--workdir={tmp_path / 'w'}")
  out = run_module(f"nasjax.{program}", *args, timeout=600)
  _assert_one_line(out, f"nasjax.{program}", *fragments)


def test_there_are_at_least_forty_cases():
  assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


# -- an existing search workdir: refused runs leave it as it was ---------------------------------


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory) -> Path:
  """A finished runlocal search (its final alphas are the reference)."""
  workdir = tmp_path_factory.mktemp("good") / "search"
  assert_ok(run_module("nasjax.search", f"--config={SEARCH}", f"--workdir={workdir}"))
  return workdir


def _resumable_copy(finished: Path, where: Path) -> Path:
  """A copy of ``finished`` without its last checkpoint (so a rerun has work left)."""
  copy = where / "run"
  shutil.copytree(finished, copy)
  steps = sorted(int(p.name) for p in (copy / "checkpoints").iterdir() if p.name.isdigit())
  assert len(steps) >= 2, steps
  shutil.rmtree(copy / "checkpoints" / str(steps[-1]))
  return copy


def _assert_resumes_to(workdir: Path, finished: Path) -> None:
  assert_ok(run_module("nasjax.search", f"--config={SEARCH}", f"--workdir={workdir}"))
  got, want = np.load(workdir / "alphas.npz"), np.load(finished / "alphas.npz")
  assert sorted(got.files) == sorted(want.files)
  for key in want.files:
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  assert (workdir / "genotype.json").read_text() == (finished / "genotype.json").read_text()


BAD_RESUMES = [
  # (id, extra arguments, fragments)
  ("changed_config", ("--config.space.channels=16",), ("different config", "space.channels")),
  ("changed_and_allowed", ("--config.space.channels=16", "--config.allow_resume_with_changes=True"), ("does not fit",)),
  ("unknown_field", ("--config.space.chanels=16",), ("chanels",)),
]  # fmt: skip


@pytest.mark.slow
def test_refused_resumes_leave_the_workdir_as_it_was(finished_search, tmp_path):
  """A refused run writes nothing to the workdir's record; the original command then resumes."""
  workdir = _resumable_copy(finished_search, tmp_path)

  def record() -> dict[str, bytes]:  # error.log takes diagnostics; the rest is the run's record
    return {
      p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file() and p.name != "error.log"
    }

  before = record()
  for name, extra, fragments in BAD_RESUMES:
    out = run_module("nasjax.search", f"--config={SEARCH}", f"--workdir={workdir}", *extra)
    _assert_one_line(out, "nasjax.search", *fragments)
    after = record()
    assert after == before, (
      f"{name} changed {sorted(k for k in after if after.get(k) != before.get(k))}"
    )
  (workdir / "config.json").unlink()  # with no record left, the checkpoint itself refuses
  out = run_module(
    "nasjax.search", f"--config={SEARCH}", f"--workdir={workdir}", "--config.space.channels=16"
  )
  _assert_one_line(out, "nasjax.search", "does not fit")
  assert not (workdir / "config.json").exists(), "a refused run recorded its config"
  _assert_resumes_to(workdir, finished_search)


@pytest.mark.slow
def test_a_truncated_checkpoint_gives_one_line_and_the_previous_one_resumes(
  finished_search, tmp_path
):
  workdir = _resumable_copy(finished_search, tmp_path)
  steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  latest = workdir / "checkpoints" / str(steps[-1])
  arrays = [p for p in latest.rglob("*") if p.is_file() and p.parent.name == "d"]
  assert arrays, sorted(str(p) for p in latest.rglob("*"))
  for path in arrays:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
  out = run_module("nasjax.search", f"--config={SEARCH}", f"--workdir={workdir}")
  line = _assert_one_line(out, "nasjax.search", str(latest), "cannot be restored", "delete")
  assert "<bound method" not in line and "TensorStore(" not in line, line
  shutil.rmtree(latest)  # what the line says to do
  _assert_resumes_to(workdir, finished_search)


# -- the boundary's sentences for operating-system errors ----------------------------------------


@pytest.mark.parametrize(
  ("error", "words"),
  [
    (OSError(errno.ENOSPC, "No space left on device", "/runs/a/ckpt"), "no space left"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/run"), "read-only file system"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "permission denied"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/etc/passwd/x"), "is a file"),
    (FileExistsError(errno.EEXIST, "File exists", "/tmp/f"), "already exists as a file"),
  ],
)
def test_operating_system_errors_become_a_sentence_with_the_path(error, words):
  sentence = explain(error)
  assert sentence is not None and words in sentence and error.filename in sentence


def test_a_library_wrapping_an_os_error_is_explained_through_its_chain():
  """orbax and TensorStore wrap ENOSPC in their own types, or only in their message."""
  try:
    try:
      raise OSError(errno.ENOSPC, "No space left on device", "/runs/a/checkpoints/40")
    except OSError as inner:
      raise RuntimeError("async save failed") from inner
  except RuntimeError as outer:
    assert "no space left" in explain(outer) and "/runs/a/checkpoints/40" in explain(outer)
  wrapped = ValueError(
    "RESOURCE_EXHAUSTED: writing '/runs/b/checkpoints/5/d/x': No space left on device"
  )
  assert explain(wrapped).startswith("no space left on the device holding /runs/b/checkpoints/5")
  assert explain(KeyError("alphas")) is None
  assert short(ValueError("bad <bound method x of <Y>> here\nmore")) == "ValueError: bad … here"


def test_an_unexpected_error_is_logged_in_the_workdir(tmp_path):
  """The traceback goes to WORKDIR/error.log; without a usable workdir, to the temp folder."""
  assert log_path(tmp_path, "nasjax.search") == tmp_path / "error.log"
  assert log_path(tmp_path / "missing", "nasjax.search").name == "nasjax.search-error.log"
  assert log_path(f"{tmp_path},/elsewhere", "nasjax.evaluate_seg") == tmp_path / "error.log"


@pytest.mark.slow
def test_a_write_failing_mid_run_gives_one_line_and_the_run_resumes(finished_search, tmp_path):
  """A checkpoint write fails in orbax's background threads (files capped at 200 KB, as a
  nearly full disk would fail it): one line, orbax's tracebacks only in error.log, and the
  same command without the cap resumes to the uninterrupted result."""
  workdir = tmp_path / "w"

  def cap_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024))

  env = cli_env()
  out = subprocess.run(
    [sys.executable, "-m", "nasjax.search", f"--config={SEARCH}", f"--workdir={workdir}"],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
    check=False,
    preexec_fn=cap_file_size,
  )
  _assert_one_line(out, "nasjax.search", "exceed the largest file", str(workdir / "checkpoints"))
  log = (workdir / "error.log").read_text()
  assert "File too large" in log and "Traceback" in log
  assert not (workdir / "genotype.json").exists()
  _assert_resumes_to(workdir, finished_search)


def test_ctrl_c_during_start_up_gives_one_line_and_records_nothing(tmp_path):
  """Ctrl-C while the data loads: status 130, one line saying how to continue, no record."""
  workdir = tmp_path / "w"
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # the child's default
  signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
  try:
    proc = subprocess.Popen(
      [sys.executable, "-m", "nasjax.search", f"--config={SEARCH}", f"--workdir={workdir}"],
      cwd=REPO,
      env=cli_env(),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
  finally:
    signal.signal(signal.SIGINT, previous)
  deadline = time.monotonic() + 300
  while not workdir.exists() and proc.poll() is None and time.monotonic() < deadline:
    time.sleep(0.05)  # the workdir is made first, before the data loads
  proc.send_signal(signal.SIGINT)
  stdout, stderr = proc.communicate(timeout=300)
  assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
  assert "Traceback" not in stderr, stderr[-3000:]
  assert stderr.splitlines()[-1].startswith("nasjax.search: interrupted"), stderr[-2000:]
  assert not (workdir / "config.json").exists()
