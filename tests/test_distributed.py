"""Multi-process settings: config and environment resolution, validation, one-line failures."""

import os
import socket
import subprocess
import sys

import jax
import ml_collections
import pytest
from conftest import REPO

from nasjax.errors import ConfigError
from nasjax.infra import distributed

SLURM_STEP = {
  "SLURM_JOB_ID": "4242",
  "SLURM_STEP_NODELIST": "node[001-002]",
  "SLURM_NTASKS": "4",
  "SLURM_PROCID": "3",
  "SLURM_LOCALID": "1",
  "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
}
EXPLICIT = {
  "NASJAX_COORDINATOR_ADDRESS": "10.0.0.1:12355",
  "NASJAX_NUM_PROCESSES": "4",
  "NASJAX_PROCESS_ID": "2",
}


def _cfg(**fields):
  cfg = distributed.distributed_config()
  for key, value in fields.items():
    cfg[key] = value
  return cfg


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_a_plain_run_initialises_nothing():
  assert distributed.resolve(_cfg(), {}).how == "none"
  plan = distributed.initialize(_cfg())  # this process: no launcher, no settings
  assert plan.how == "none"
  assert not jax.distributed.is_initialized()


def test_explicit_settings_from_the_config_and_the_environment():
  cfg = _cfg(coordinator_address="host-a:1000", num_processes=2, process_id=1)
  plan = distributed.resolve(cfg, {})
  assert (plan.how, plan.coordinator_address, plan.num_processes, plan.process_id) == (
    "explicit",
    "host-a:1000",
    2,
    1,
  )
  plan = distributed.resolve(cfg, EXPLICIT)  # the environment wins over the config
  assert (plan.coordinator_address, plan.num_processes, plan.process_id) == (
    "10.0.0.1:12355",
    4,
    2,
  )
  assert plan.local_device_ids is None
  assert distributed.resolve(cfg, {**EXPLICIT, "NASJAX_DISTRIBUTED": "off"}).how == "none"


def test_one_process_needs_no_coordinator_unless_forced():
  env = {**EXPLICIT, "NASJAX_NUM_PROCESSES": "1", "NASJAX_PROCESS_ID": "0"}
  assert distributed.resolve(_cfg(), env).how == "none"
  assert distributed.resolve(_cfg(mode="on"), env).how == "explicit"
  forced = distributed.resolve(_cfg(mode="on"), {})  # JAX's own detection decides
  assert (forced.how, forced.cluster, forced.coordinator_address) == ("cluster", None, None)


def test_forcing_a_run_that_jax_cannot_place_is_one_sentence():
  code = (
    "from nasjax.infra import distributed\n"
    "cfg = distributed.distributed_config(); cfg.mode = 'on'\n"
    "try:\n"
    "  distributed.initialize(cfg)\n"
    "except distributed.DistributedError as e:\n"
    "  print('ERROR', e)\n"
  )
  env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "TPU_"))}
  out = subprocess.run(
    [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
  )
  lines = [line for line in out.stdout.splitlines() if line.startswith("ERROR")]
  assert len(lines) == 1, out.stdout + out.stderr[-2000:]
  assert "cannot start the multi-process run" in lines[0]
  assert "NASJAX_COORDINATOR_ADDRESS" in lines[0]


def test_slurm_steps_are_detected_and_left_to_jax():
  plan = distributed.resolve(_cfg(), SLURM_STEP)
  assert (plan.how, plan.cluster, plan.coordinator_address, plan.num_processes) == (
    "cluster",
    "slurm",
    None,
    None,
  )
  assert plan.local_device_ids is None  # JAX gives each task the GPU of its local rank
  one_per_node = distributed.resolve(_cfg(), {**SLURM_STEP, "SLURM_STEP_TASKS_PER_NODE": "1(x4)"})
  assert one_per_node.local_device_ids == ()  # each task drives every GPU of its node
  pinned = distributed.resolve(_cfg(local_device_ids="0,1"), SLURM_STEP)
  assert pinned.local_device_ids == (0, 1)
  # A partial explicit setting is passed on; JAX detects the rest.
  port = distributed.resolve(_cfg(coordinator_address="node001:9999"), SLURM_STEP)
  assert (port.how, port.coordinator_address) == ("cluster", "node001:9999")
  assert distributed.resolve(_cfg(mode="off"), SLURM_STEP).how == "none"


@pytest.mark.parametrize(
  "env",
  [
    {**SLURM_STEP, "SLURM_NTASKS": "1"},  # a one-task job
    {k: v for k, v in SLURM_STEP.items() if k != "SLURM_STEP_NODELIST"},  # the batch script
    {"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1", "OMPI_COMM_WORLD_SIZE": "1"},
    {"TPU_WORKER_HOSTNAMES": "t1v-0"},  # a single-host TPU
  ],
)
def test_single_process_launches_are_not_multi_process(env):
  assert distributed.detect_cluster(env) is None
  assert distributed.resolve(_cfg(), env).how == "none"


@pytest.mark.parametrize(
  "env, name",
  [
    ({"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1", "OMPI_COMM_WORLD_SIZE": "8"}, "openmpi"),
    ({"TPU_WORKER_HOSTNAMES": "t1v-0,t1v-1,t1v-2,t1v-3", "TPU_WORKER_ID": "2"}, "tpu"),
    ({"TPU_PROCESS_ADDRESSES": "10.0.0.1:8476,10.0.0.2:8476"}, "tpu"),
  ],
)
def test_other_launchers_are_detected(env, name):
  plan = distributed.resolve(_cfg(), env)
  assert (plan.how, plan.cluster) == ("cluster", name)


@pytest.mark.parametrize(
  "fields, env, fragment",
  [
    ({"mode": "yes"}, {}, "config.distributed.mode='yes' must be one of"),
    ({"coordinator_address": "host"}, {}, "config.distributed.coordinator_address='host'"),
    ({"coordinator_address": "host:0"}, {}, "port from 1 to 65535"),
    ({"coordinator_address": "[::1:80"}, {}, "IPv6"),
    ({"num_processes": -1}, {}, "config.distributed.num_processes"),
    ({"process_id": -2}, {}, "config.distributed.process_id"),
    ({"num_processes": 2, "process_id": 2}, {}, "config.distributed.process_id=2 must be below"),
    ({"local_device_ids": "gpu0"}, {}, "config.distributed.local_device_ids"),
    ({"initialization_timeout": 0}, {}, "config.distributed.initialization_timeout"),
    ({}, {"NASJAX_NUM_PROCESSES": "two"}, "NASJAX_NUM_PROCESSES='two'"),
    ({}, {"NASJAX_PROCESS_ID": "-1"}, "NASJAX_PROCESS_ID='-1'"),
    ({}, {"NASJAX_DISTRIBUTED": "maybe"}, "NASJAX_DISTRIBUTED='maybe'"),
    ({}, {"NASJAX_COORDINATOR_ADDRESS": "10.0.0.1"}, "'10.0.0.1' must be host:port"),
    ({}, {"NASJAX_LOCAL_DEVICE_IDS": "0;1"}, "NASJAX_LOCAL_DEVICE_IDS='0;1'"),
    (
      {},
      {**EXPLICIT, "NASJAX_PROCESS_ID": "4"},
      "NASJAX_PROCESS_ID=4 must be below NASJAX_NUM_PROCESSES=4",
    ),
    ({"num_processes": 2, "process_id": 0}, {}, "needs config.distributed.coordinator_address"),
  ],
)
def test_bad_settings_give_one_sentence_naming_the_field(fields, env, fragment):
  with pytest.raises(ConfigError) as error:
    distributed.resolve(_cfg(**fields), env)
  message = str(error.value)
  assert fragment in message, message
  assert "\n" not in message


def test_valid_addresses():
  for address in ("localhost:1", "10.0.0.1:65535", "[::1]:8476", "node-7.cluster:12355"):
    distributed.validate_distributed(_cfg(coordinator_address=address))


def test_a_used_port_and_an_absent_coordinator_are_one_sentence():
  with socket.socket() as listener:
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    with pytest.raises(distributed.DistributedError, match=f"port {port} .* already in use"):
      distributed._check_port_free(port)
    distributed._wait_for_coordinator(f"127.0.0.1:{port}", timeout=5)  # it answers: returns
  port = _free_port()
  distributed._check_port_free(port)
  with pytest.raises(distributed.DistributedError, match="cannot reach the coordinator"):
    distributed._wait_for_coordinator(f"127.0.0.1:{port}", timeout=0.5)
  with pytest.raises(distributed.DistributedError, match="cannot resolve the coordinator host"):
    distributed._wait_for_coordinator("no-such-host.invalid:80", timeout=0.5)


def test_initialising_after_jax_started_is_refused_in_one_sentence():
  jax.devices()  # the backend is up
  env = {
    "NASJAX_COORDINATOR_ADDRESS": f"127.0.0.1:{_free_port()}",
    "NASJAX_NUM_PROCESSES": "2",
    "NASJAX_PROCESS_ID": "0",
  }
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  try:
    with pytest.raises(distributed.DistributedError, match="before any JAX computation"):
      distributed.initialize(_cfg())
  finally:
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
  assert not jax.distributed.is_initialized()


def test_the_cli_reports_an_unreachable_coordinator_in_one_line(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu", NASJAX_NUM_PROCESSES="2", NASJAX_PROCESS_ID="1")
  env["NASJAX_COORDINATOR_ADDRESS"] = f"127.0.0.1:{_free_port()}"
  cmd = [
    sys.executable,
    "-m",
    "nasjax.search",
    "--config=configs/nb201/darts_1st.py:runlocal",
    f"--workdir={tmp_path / 'w'}",
    "--config.distributed.initialization_timeout=1",
  ]
  out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert out.returncode == 1, out.stderr[-2000:]
  lines = [line for line in out.stderr.splitlines() if line.startswith("nasjax.search: error:")]
  assert len(lines) == 1 and "cannot reach the coordinator" in lines[0], out.stderr[-2000:]
  assert "Traceback" not in out.stderr
  assert not (tmp_path / "w").exists()


def test_a_partial_block_takes_the_defaults_and_an_unknown_field_is_named():
  partial = ml_collections.ConfigDict({"mode": "off"})
  assert distributed.resolve(partial, EXPLICIT).how == "none"
  assert distributed.resolve(ml_collections.ConfigDict(), EXPLICIT).how == "explicit"
  with pytest.raises(ConfigError, match="config.distributed has no field 'port'"):
    distributed.validate_distributed(ml_collections.ConfigDict({"port": 1}))
  with pytest.raises(ConfigError, match="config.distributed.num_processes must be of type int"):
    distributed.validate_distributed(ml_collections.ConfigDict({"num_processes": "2"}))
