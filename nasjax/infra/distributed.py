"""Multi-process runs: one program over the devices of several processes or hosts.

JAX runs multi-host programs as one process per host (or per GPU), every
process running the same program; :func:`jax.distributed.initialize` connects
them before the first JAX computation, after which ``jax.devices()`` lists the
devices of all processes and :mod:`nasjax.infra.parallel` lays one mesh over them.
:func:`initialize` makes that call from the ``distributed`` block of a config
(:func:`distributed_config`) and the environment; the command line
(:mod:`nasjax.cli`) calls it after parsing its flags and before the run.

How the processes find each other (``config.distributed.mode``):

- ``auto`` (default): an explicit coordinator when one is given (below);
  otherwise JAX's own cluster detection when the process was started by a
  cluster launcher for more than one process: SLURM's ``srun`` (a step with
  ``SLURM_NTASKS`` > 1), Open MPI's ``mpirun``, or on a Cloud TPU VM (every
  worker of a pod runs the same command). Otherwise a plain single-process
  run: nothing is initialised.
- ``on``: always initialise (explicit settings, else JAX's own cluster
  detection; an error when it finds no cluster).
- ``off``: never (one process, whatever the environment says).

Explicit settings, for hosts that no launcher describes (e.g. several
processes started by hand, or a test on one machine): ``coordinator_address``
(``host:port`` of process 0, which listens there; every process gives the
same one), ``num_processes`` and ``process_id`` (0 .. n-1). Each can be set
in the environment, which wins over the config: ``NASJAX_COORDINATOR_ADDRESS``,
``NASJAX_NUM_PROCESSES``, ``NASJAX_PROCESS_ID``; ``NASJAX_DISTRIBUTED`` sets the
mode and ``NASJAX_LOCAL_DEVICE_IDS`` the devices of this process.

``local_device_ids``: ``""`` (JAX's choice: under SLURM and Open MPI one GPU
per process, the process's local rank, except where each node runs a single
task of the SLURM step, which then uses all of its node's GPUs; all devices
otherwise), ``"all"``, or a comma-separated list such as ``"0,1"``.

On CPU, processes exchange data through gloo collectives
(``jax_cpu_collectives_implementation``), which :func:`initialize` selects
unless another implementation is configured.

Problems a user can fix (a malformed address, a port in use on process 0, a
coordinator that cannot be reached within ``initialization_timeout`` seconds,
JAX used before initialisation) end in one :class:`DistributedError` sentence
instead of the JAX runtime aborting the process.

Example (two processes on one machine)::

  NASJAX_COORDINATOR_ADDRESS=localhost:12355 NASJAX_NUM_PROCESSES=2 NASJAX_PROCESS_ID=0 \\
    python -m nasjax.search --config=configs/nb201/darts_1st.py --workdir=runs/a &
  NASJAX_COORDINATOR_ADDRESS=localhost:12355 NASJAX_NUM_PROCESSES=2 NASJAX_PROCESS_ID=1 \\
    python -m nasjax.search --config=configs/nb201/darts_1st.py --workdir=runs/a
"""

from __future__ import annotations

import dataclasses
import errno
import glob
import importlib.util
import os
import re
import socket
import time
from collections.abc import Mapping

import jax
import ml_collections

from nasjax.errors import ConfigError, NasjaxError

MODES = ("auto", "on", "off")
ENV = {
  "mode": "NASJAX_DISTRIBUTED",
  "coordinator_address": "NASJAX_COORDINATOR_ADDRESS",
  "num_processes": "NASJAX_NUM_PROCESSES",
  "process_id": "NASJAX_PROCESS_ID",
  "local_device_ids": "NASJAX_LOCAL_DEVICE_IDS",
}
_SLURM_VARS = (
  "SLURM_JOB_ID",
  "SLURM_STEP_NODELIST",
  "SLURM_NTASKS",
  "SLURM_PROCID",
  "SLURM_LOCALID",
)


class DistributedError(NasjaxError, RuntimeError):
  """The processes of a multi-process run cannot be connected."""


def distributed_config() -> ml_collections.ConfigDict:
  """The ``distributed`` block of a run config (defaults: a single process does nothing).

  Fields: ``mode`` (``auto`` | ``on`` | ``off``), ``coordinator_address``
  (``host:port``; ``""``: from the environment or the cluster),
  ``num_processes`` (0: not given), ``process_id`` (-1: not given),
  ``local_device_ids`` (``""`` | ``"all"`` | ``"0,1,..."``) and
  ``initialization_timeout`` (seconds to wait for all processes).
  """
  c = ml_collections.ConfigDict()
  c.mode = "auto"
  c.coordinator_address = ""
  c.num_processes = 0
  c.process_id = -1
  c.local_device_ids = ""
  c.initialization_timeout = 300
  return c


@dataclasses.dataclass(frozen=True)
class Plan:
  """What :func:`initialize` will do, resolved from a config and the environment.

  Attributes:
    how: ``none`` (a single process), ``explicit`` (coordinator, process count
      and id all given) or ``cluster`` (JAX detects what is not given).
    cluster: the detected launcher (``slurm``, ``openmpi``, ``tpu``) or None.
    coordinator_address: ``host:port`` of process 0, or None for JAX to detect.
    num_processes: the process count, or None for JAX to detect.
    process_id: this process's id, or None for JAX to detect.
    local_device_ids: this process's devices; None for JAX's choice, ``()`` for all.
    timeout: seconds to wait for every process to connect.
  """

  how: str
  cluster: str | None = None
  coordinator_address: str | None = None
  num_processes: int | None = None
  process_id: int | None = None
  local_device_ids: tuple[int, ...] | None = None
  timeout: int = 300


def _address_problem(address: str) -> str | None:
  """Why ``address`` is not ``host:port`` (IPv6 hosts in brackets), or None."""
  host, sep, port = address.rpartition(":")
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    return "must be host:port with a port from 1 to 65535, e.g. 10.0.0.1:12355"
  if host.startswith("[") != host.endswith("]"):
    return "must put an IPv6 host in brackets, e.g. [::1]:12355"
  return None


def _problem(key: str, value: object) -> str | None:
  """Why ``value`` is not a valid setting ``key``, or None."""
  integer = isinstance(value, int) and not isinstance(value, bool)
  if key == "mode" and value not in MODES:
    return f"must be one of {list(MODES)}"
  if key == "coordinator_address" and value:
    return _address_problem(value)
  if key == "num_processes" and not (integer and value >= 0):
    return "must be an integer >= 1 (0: not given)"
  if key == "process_id" and not (integer and value >= -1):
    return "must be an integer >= 0 (-1: not given)"
  if key == "local_device_ids" and not re.fullmatch(r"|all|\d+(,\d+)*", value.replace(" ", "")):
    return 'must be "" (the default), "all" or comma-separated device numbers such as "0,1"'
  if key == "initialization_timeout" and not (integer and value >= 1):
    return "must be a whole number of seconds >= 1"
  return None


def _check_values(values: dict[str, object], names: dict[str, str]) -> None:
  """Raises a ConfigError for the first bad value, naming where it came from (``names``)."""
  for key, value in values.items():
    if why := _problem(key, value):
      raise ConfigError(f"{names[key]}={value!r} {why}")
  n, i = values["num_processes"], values["process_id"]
  if n and i >= n:
    raise ConfigError(
      f"{names['process_id']}={i} must be below {names['num_processes']}={n} (ids run from 0)"
    )


def _complete(cfg: ml_collections.ConfigDict) -> dict[str, object]:
  """The fields of ``cfg``, with the defaults of those it lacks (a config older than them).

  Raises:
    ConfigError: for a field that :func:`distributed_config` does not have.
  """
  full = distributed_config()
  for key in cfg:
    if key not in full:
      raise ConfigError(
        f"config.distributed has no field {key!r}; the fields are {', '.join(sorted(full))}"
      )
    kind = type(full[key])
    if not isinstance(cfg[key], kind) or isinstance(cfg[key], bool) != (kind is bool):
      raise ConfigError(
        f"config.distributed.{key} must be of type {kind.__name__}, got {cfg[key]!r}"
      )
    full[key] = cfg[key]
  return full.to_dict()


def validate_distributed(cfg: ml_collections.ConfigDict) -> None:
  """Checks the ``distributed`` block of a config.

  Raises:
    ConfigError: one sentence naming the first bad field.
  """
  values = _complete(cfg)
  _check_values(values, {key: f"config.distributed.{key}" for key in values})


def _settings(cfg: ml_collections.ConfigDict, environ: Mapping[str, str]) -> dict[str, object]:
  """The config's fields with the ``NASJAX_*`` environment variables applied.

  Raises:
    ConfigError: for a bad value, naming its field or its environment variable.
  """
  values = _complete(cfg)
  names = {key: f"config.distributed.{key}" for key in values}
  for key, var in ENV.items():
    text = environ.get(var, "").strip()
    if not text:
      continue
    names[key] = var
    if key in ("num_processes", "process_id"):
      if not re.fullmatch(r"\d+", text):
        raise ConfigError(f"{var}={text!r} must be a whole number >= 0")
      values[key] = int(text)
    else:
      values[key] = text
  _check_values(values, names)
  return values


def _env_int(environ: Mapping[str, str], var: str) -> int:
  try:
    return int(environ.get(var, ""))
  except ValueError:
    return 0


def _on_cloud_tpu_vm() -> bool:
  """Whether this host has TPU chips and libtpu (as on every worker of a Cloud TPU VM)."""
  if importlib.util.find_spec("libtpu") is None:
    return False
  try:
    from jax._src.hardware_utils import num_available_tpu_chips_and_device_id
  except ImportError:  # the device nodes of TPU VMs instead
    return bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))
  return num_available_tpu_chips_and_device_id()[0] > 0


def detect_cluster(environ: Mapping[str, str] | None = None) -> str | None:
  """The launcher that started this process as one of several, or None.

  ``slurm``: inside an ``srun`` step of more than one task; ``openmpi``:
  under ``mpirun`` with more than one rank; ``tpu``: on a Cloud TPU VM (GKE
  lists the pod's hosts in ``TPU_WORKER_HOSTNAMES``).
  """
  environ = os.environ if environ is None else environ
  if all(var in environ for var in _SLURM_VARS) and _env_int(environ, "SLURM_NTASKS") > 1:
    return "slurm"
  if "OMPI_MCA_orte_hnp_uri" in environ and _env_int(environ, "OMPI_COMM_WORLD_SIZE") > 1:
    return "openmpi"
  hosts = environ.get("TPU_PROCESS_ADDRESSES") or environ.get("TPU_WORKER_HOSTNAMES") or ""
  if "," in hosts or (environ is os.environ and _on_cloud_tpu_vm()):
    return "tpu"
  return None


def _one_task_per_node(environ: Mapping[str, str]) -> bool:
  """Whether every node of the SLURM step runs one task (``SLURM_STEP_TASKS_PER_NODE``)."""
  layout = environ.get("SLURM_STEP_TASKS_PER_NODE") or environ.get("SLURM_TASKS_PER_NODE", "")
  counts = re.findall(r"(\d+)(?:\(x\d+\))?", layout)
  return bool(counts) and all(c == "1" for c in counts)


def resolve(cfg: ml_collections.ConfigDict, environ: Mapping[str, str] | None = None) -> Plan:
  """What :func:`initialize` does for ``cfg`` in ``environ`` (default: this process's).

  Raises:
    ConfigError: for a bad field or ``NASJAX_*`` variable, or for explicit
      settings that are incomplete where no cluster launcher fills the rest.
  """
  environ = os.environ if environ is None else environ
  s = _settings(cfg, environ)
  timeout = int(s["initialization_timeout"])
  if s["mode"] == "off":
    return Plan("none", timeout=timeout)
  address = s["coordinator_address"] or None
  n = s["num_processes"] or None
  i = s["process_id"] if s["process_id"] >= 0 else None
  ids_text = s["local_device_ids"]
  ids = (
    None
    if ids_text == ""
    else ()
    if ids_text == "all"
    else tuple(int(d) for d in ids_text.split(","))
  )
  cluster = detect_cluster(environ)
  if cluster == "slurm" and ids is None and _one_task_per_node(environ):
    ids = ()  # one process per node drives all of its node's GPUs
  given = [
    key
    for key, v in (("coordinator_address", address), ("num_processes", n), ("process_id", i))
    if v is not None
  ]
  if len(given) == 3:
    if n == 1 and s["mode"] == "auto":
      return Plan("none", timeout=timeout)
    return Plan("explicit", cluster, address, n, i, ids, timeout)
  if cluster is not None:
    return Plan("cluster", cluster, address, n, i, ids, timeout)
  if given:
    missing = [
      key for key in ("coordinator_address", "num_processes", "process_id") if key not in given
    ]
    raise ConfigError(
      f"a multi-process run needs config.distributed.{missing[0]} (or {ENV[missing[0]]}) as well "
      f"as {', '.join(given)}, unless a cluster launcher (srun, mpirun, a Cloud TPU pod) starts it"
    )
  if s["mode"] == "on":  # JAX's own detection, which knows more launchers, decides
    return Plan("cluster", timeout=timeout)
  return Plan("none", timeout=timeout)


def _split(address: str) -> tuple[str, int]:
  host, _, port = address.rpartition(":")
  return host.strip("[]"), int(port)


def _check_port_free(port: int) -> None:
  """Process 0 listens on ``port`` of every interface: refuse a port already in use."""
  for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "")):
    try:
      probe = socket.socket(family, socket.SOCK_STREAM)
    except OSError:  # no IPv6 on this host
      continue
    with probe:
      probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the coordinator does
      try:
        probe.bind((host, port))
      except OSError as e:
        if e.errno == errno.EADDRINUSE:
          raise DistributedError(
            f"port {port} of this host (the coordinator, process 0) is already in use; choose "
            f"another port in the coordinator address"
          ) from None
        continue
      return


def _wait_for_coordinator(address: str, timeout: float) -> None:
  """Waits until process 0's coordinator accepts connections (processes 1 .. n-1)."""
  host, port = _split(address)
  try:
    socket.getaddrinfo(host, port)
  except OSError:
    raise DistributedError(
      f"cannot resolve the coordinator host {host!r} (from {address}); give the name or IP "
      f"address of the machine that runs process 0"
    ) from None
  deadline = time.monotonic() + timeout
  while True:
    try:
      with socket.create_connection((host, port), timeout=5):
        return
    except OSError:
      if time.monotonic() >= deadline:
        raise DistributedError(
          f"cannot reach the coordinator at {address} within {timeout:g} s; start process 0 "
          f"with the same address, check the host and port, or raise "
          f"config.distributed.initialization_timeout"
        ) from None
      time.sleep(0.2)


def _backends_are_initialized() -> bool:
  try:
    from jax._src.xla_bridge import backends_are_initialized
  except ImportError:  # jax.distributed.initialize reports it instead
    return False
  return backends_are_initialized()


def _use_cpu_collectives() -> None:
  """Lets CPU devices of different processes exchange data (gloo), unless configured."""
  if jax.config.jax_cpu_collectives_implementation is None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")


def initialize(cfg: ml_collections.ConfigDict | None = None) -> Plan:
  """Connects this process to the others of a multi-process run; a no-op otherwise.

  Call it first, before any JAX computation (``jax.devices()`` counts).
  Safe to call again: a second call, or a call in a process already
  initialised, does nothing.

  Args:
    cfg: the ``distributed`` block of a config (default: :func:`distributed_config`).

  Returns:
    The :class:`Plan` that was carried out.

  Raises:
    ConfigError: for a bad setting.
    DistributedError: when the processes cannot be connected.
  """
  cfg = distributed_config() if cfg is None else cfg
  plan = resolve(cfg)
  if plan.how == "none" or jax.distributed.is_initialized():
    return plan
  if _backends_are_initialized():
    raise DistributedError(
      "a multi-process run must connect its processes before JAX starts; call "
      "nasjax.infra.distributed.initialize before any JAX computation (jax.devices() included)"
    )
  _use_cpu_collectives()
  if plan.how == "explicit":
    if plan.process_id == 0:
      _check_port_free(_split(plan.coordinator_address)[1])
    else:
      _wait_for_coordinator(plan.coordinator_address, plan.timeout)
  try:
    jax.distributed.initialize(
      coordinator_address=plan.coordinator_address,
      num_processes=plan.num_processes,
      process_id=plan.process_id,
      local_device_ids=None if plan.local_device_ids is None else list(plan.local_device_ids),
      initialization_timeout=plan.timeout,
    )
  except RuntimeError as e:
    if "before" in str(e):
      raise DistributedError(
        "a multi-process run must connect its processes before JAX starts; call "
        "nasjax.infra.distributed.initialize before any JAX computation (jax.devices() included)"
      ) from None
    raise DistributedError(f"cannot start the multi-process run: {_first_line(e)}") from None
  except (ValueError, TypeError, KeyError, IndexError) as e:
    via = f" detected from {plan.cluster}" if plan.cluster else ""
    raise DistributedError(
      f"cannot start the multi-process run{via} ({_first_line(e).rstrip('.')}); give "
      f"config.distributed.coordinator_address, num_processes and process_id (or "
      f"NASJAX_COORDINATOR_ADDRESS, NASJAX_NUM_PROCESSES, NASJAX_PROCESS_ID)"
    ) from None
  return plan


def _first_line(error: BaseException) -> str:
  text = str(error).strip()
  return text.splitlines()[0][:300] if text else type(error).__name__


def is_main() -> bool:
  """Whether this is process 0, the one that writes a run's files."""
  return jax.process_index() == 0
