"""Roles on several hosts from SLURM's variables or a hostfile, and each worker's devices."""

import pytest

from kzoo.tuning.distribute import cluster, launcher
from kzoo.tuning.distribute.roles import ENV_ID, ENV_IP, ENV_PORT
from kzoo.tuning.settings import check_scale


def _slurm(**over):
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "5", "SLURM_JOB_NODELIST": "gpu[01-02,07]",
           "SLURM_LOCALID": "0", "SLURM_JOB_ID": "123456"}
    return {**env, **over}


@pytest.mark.parametrize("nodelist, hosts", [
    ("gpu[01-03,07]", ["gpu01", "gpu02", "gpu03", "gpu07"]),
    ("node7", ["node7"]),
    ("a[8-10],b1,c[1,3]", ["a8", "a9", "a10", "b1", "c1", "c3"]),
    ("rack[1-2]-n[01-02]", ["rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02"]),
    ("gpu[098-101]", ["gpu098", "gpu099", "gpu100", "gpu101"]),
])
def test_nodelist_expansion(nodelist, hosts):
    assert cluster.expand_nodelist(nodelist) == hosts


def test_bad_nodelist_is_named():
    with pytest.raises(ValueError, match=r"range 'x-3'.*gpu\[x-3\]"):
        cluster.expand_nodelist("gpu[x-3]")


def test_slurm_rank_zero_is_the_chief_on_the_first_host():
    role = cluster.slurm_role(_slurm())
    assert (role.rank, role.size, role.chief_host, role.local_rank) == (0, 5, "gpu01", 0)
    assert role.tuner_id == "chief"
    # The port follows the job id, so two jobs on one host do not collide.
    port = str(47_611 + 123456 % 2000)
    assert role.environ() == {ENV_ID: "chief", ENV_IP: "gpu01", ENV_PORT: port}
    other = cluster.slurm_role(_slurm(SLURM_JOB_ID="123457"))
    assert other.port == role.port + 1


def test_slurm_workers_and_explicit_port():
    role = cluster.slurm_role(_slurm(SLURM_PROCID="3", SLURM_LOCALID="1"), chief_port=9000)
    assert role.environ() == {ENV_ID: "tuner3", ENV_IP: "gpu01", ENV_PORT: "9000"}
    assert role.local_rank == 1
    # SLURM_NODELIST is the older name; no job id: the default port.
    env = _slurm(SLURM_PROCID="1")
    del env["SLURM_JOB_NODELIST"], env["SLURM_JOB_ID"]
    env["SLURM_NODELIST"] = "cpu[3-4]"
    role = cluster.slurm_role(env)
    assert (role.chief_host, role.port, role.tuner_id) == ("cpu3", cluster.DEFAULT_PORT, "tuner1")


def test_slurm_errors_name_the_missing_variables():
    with pytest.raises(ValueError, match="SLURM_PROCID, SLURM_NTASKS, SLURM_JOB_NODELIST or "
                                         "SLURM_NODELIST are not set"):
        cluster.slurm_role({})
    with pytest.raises(ValueError, match="SLURM_NTASKS is not set"):
        env = _slurm()
        del env["SLURM_NTASKS"]
        cluster.slurm_role(env)
    with pytest.raises(ValueError, match="SLURM_PROCID='x' is not an integer"):
        cluster.slurm_role(_slurm(SLURM_PROCID="x"))
    with pytest.raises(ValueError, match="needs 2 processes or more.*has 1"):
        cluster.slurm_role(_slurm(SLURM_NTASKS="1"))
    with pytest.raises(ValueError, match="--rank is for a hostfile"):
        cluster.cluster_role("slurm", rank=1, environ=_slurm())


def test_hostfile_roles(tmp_path):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# chief first\nnodeA\nnodeA  # two processes on A\n\nnodeB\nnodeB\n")
    roles = [cluster.cluster_role(str(hostfile), rank=r, chief_port=5000) for r in range(4)]
    assert [r.tuner_id for r in roles] == ["chief", "tuner1", "tuner2", "tuner3"]
    assert [r.local_rank for r in roles] == [0, 1, 0, 1]
    assert {r.chief_host for r in roles} == {"nodeA"} and {r.port for r in roles} == {5000}
    with pytest.raises(ValueError, match=r"needs this process's --rank"):
        cluster.cluster_role(str(hostfile))
    with pytest.raises(ValueError, match=r"--rank must be an int from 0 to 3"):
        cluster.cluster_role(str(hostfile), rank=4)
    with pytest.raises(ValueError, match="cannot read the hostfile"):
        cluster.cluster_role(str(tmp_path / "missing"), rank=0)
    (tmp_path / "one").write_text("nodeA\n")
    with pytest.raises(ValueError, match="lists 1 process"):
        cluster.cluster_role(str(tmp_path / "one"), rank=0)
    with pytest.raises(ValueError, match="--chief-port must be a TCP port"):
        cluster.cluster_role(str(hostfile), rank=0, chief_port=70_000)


def test_cluster_env_gives_each_worker_its_gpu_block():
    gpus = ["0", "1", "2", "3"]
    chief = cluster.cluster_env("slurm", gpus_per_worker=2, environ=_slurm(), gpus=gpus)
    assert chief["CUDA_VISIBLE_DEVICES"] == "" and chief[ENV_ID] == "chief"
    env = _slurm(SLURM_PROCID="2", SLURM_LOCALID="1")
    worker = cluster.cluster_env("slurm", gpus_per_worker=2, environ=env, gpus=gpus)
    assert worker["CUDA_VISIBLE_DEVICES"] == "2,3" and worker[ENV_ID] == "tuner2"
    # srun --gpus-per-task=2 already gave this task its two GPUs: kept.
    kept = cluster.cluster_env("slurm", gpus_per_worker=2, environ=env, gpus=["5", "6"])
    assert kept["CUDA_VISIBLE_DEVICES"] == "5,6"
    with pytest.raises(ValueError, match="has 4 GPU.*3 blocks of --gpus-per-worker 2"):
        cluster.cluster_env("slurm", gpus_per_worker=2, gpus=gpus,
                            environ=_slurm(SLURM_PROCID="4", SLURM_LOCALID="2"))
    # No GPU: refused, unless the virtual-device knob is set (jax).
    with pytest.raises(ValueError, match="KZOO_VIRTUAL_DEVICES=1"):
        cluster.cluster_env("slurm", gpus_per_worker=2, environ=env, gpus=[], backend="jax")
    virtual = cluster.cluster_env("slurm", gpus_per_worker=2, gpus=[], backend="jax",
                                  environ={**env, "KZOO_VIRTUAL_DEVICES": "1"})
    assert "--xla_force_host_platform_device_count=2" in virtual["XLA_FLAGS"]


def test_local_launcher_blocks_are_disjoint_and_checked():
    blocks = launcher.plan_devices(2, 2, "jax", gpus=["0", "1", "2", "3", "4"], environ={})
    assert [b["CUDA_VISIBLE_DEVICES"] for b in blocks] == ["0,1", "2,3"]
    assert [launcher.block_name(b) for b in blocks] == ["gpu:0,1", "gpu:2,3"]
    with pytest.raises(ValueError, match=r"3 workers x 2 GPUs per worker need 6 GPUs, and "
                                         r"this host has 5"):
        launcher.plan_devices(3, 2, "jax", gpus=["0", "1", "2", "3", "4"], environ={})
    with pytest.raises(ValueError, match="needs 4 GPUs.*has none.*KZOO_VIRTUAL_DEVICES=1"):
        launcher.plan_devices(2, 2, "jax", gpus=[], environ={})
    knob = {"KZOO_VIRTUAL_DEVICES": "1", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    with pytest.raises(ValueError, match="runs on torch"):
        launcher.plan_devices(2, 2, "torch", gpus=[], environ=knob)
    virtual = launcher.plan_devices(2, 3, "jax", gpus=[], environ=knob)
    assert virtual[0]["XLA_FLAGS"] == "--xla_force_host_platform_device_count=3"
    assert launcher.block_name(virtual[1]) == "virtual-cpu:3"
    assert launcher.plan_devices(2, 1, "jax", gpus=[], environ={}) == [{}, {}]
    # The default: one GPU each, shared round-robin.
    assert launcher.plan_devices(3, None, "jax", gpus=["0", "1"], environ={}) == [
        {"CUDA_VISIBLE_DEVICES": g} for g in ("0", "1", "0")]


@pytest.mark.parametrize("kwargs, message", [
    (dict(devices=0), "devices must be an int >= 1 or 'all'"),
    (dict(gpus_per_worker=0, workers=2), "gpus_per_worker must be an int >= 1"),
    (dict(gpus_per_worker=2), "gpus_per_worker is for a search with workers"),
    (dict(devices=2, workers=2), "set --gpus-per-worker 2 instead of --devices 2"),
    (dict(cluster="slurm", workers=2), "starts no local workers. Drop --workers"),
    (dict(rank=1), "give --cluster HOSTFILE"),
    (dict(devices=2, tuner="hyperband"), "hyperband trials continue other trials' weights"),
    (dict(workers=2, gpus_per_worker=2, tuner="hyperband"), "pick --tuner random"),
])
def test_scale_settings_are_checked(kwargs, message):
    args = {"devices": 1, "workers": 0, "gpus_per_worker": None, "cluster": None, "rank": None}
    with pytest.raises(ValueError, match=message):
        check_scale(**{**args, **kwargs})
