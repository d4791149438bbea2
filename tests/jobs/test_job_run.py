"""Jobs end to end on the test emulator: real agent processes, a real store folder, no mocks."""

from __future__ import annotations

import json
from decimal import Decimal
import re
import urllib.request

import pytest

from job_helpers import alive, job_state, wait_for
from tests.conftest import PROJECT, ZONE
from tpuctl.errors import ExitCode

WORK = ("import os, pathlib\n"
        "print(os.environ['GREETING'], 'from worker', os.environ['TPU_WORKER_ID'])\n"
        "pathlib.Path('out').mkdir(exist_ok=True)\n"
        "pathlib.Path('out/result.txt').write_text('42')\n")


def node_json(emulator, name: str) -> dict:
    url = f"{emulator.url}/v2/projects/{PROJECT}/locations/{ZONE}/nodes/{name}"
    with urllib.request.urlopen(url) as reply:
        return json.loads(reply.read())


@pytest.mark.slow
def test_a_job_runs_and_its_log_exit_status_and_outputs_arrive(cli, jobs_env, write_job, store, tmp_path, monkeypatch):
    path = write_job("name: hello\ntpu: {type: v4-8}\nsetup: echo setting up\nrun: python3 work.py\n"
                     "env: {GREETING: hi there}\noutputs: out\n", {"work.py": WORK})
    started = cli("run", str(path))
    assert started.code == 0, started.err
    job = started.out.strip()
    assert re.fullmatch(r"hello-[a-z0-9]{6}", job)
    assert started.err == ("Its TPU (v4-8): $12.88/hour, up to $51.52 for the lease.\n"      # 4 h, no budget set
                           f"Job {job} is pending on TPU {job} in {ZONE}; follow it with `tpuctl logs {job} -f`.\n")

    followed = cli("logs", job, "-f")
    assert followed.code == 0, followed.err
    assert followed.out == ("[tpuctl] worker 0 setup: $ echo setting up\nsetting up\n"
                            "[tpuctl] worker 0 run: $ python3 work.py\nhi there from worker 0\n"
                            "[tpuctl] worker 0: succeeded.\n")
    assert re.fullmatch(rf"\[tpuctl\] {job}: (pending|running)\.\n(\[tpuctl\] {job}: running\.\n)?"
                        rf"\[tpuctl\] {job}: succeeded\.\nJob {job} succeeded on 1 worker in \ds\.\n", followed.err)
    data = job_state(cli, job)
    assert (data["state"], data["member"], data["node"], data["outputs"]) == ("succeeded", "alice", job, ["result.txt"])
    assert [(w["state"], w["exit_code"], w["phase"]) for w in data["attempts"][0]["workers"]] == [("succeeded", 0, "run")]
    assert store.read(f"jobs/{job}/outputs/w0/result.txt") == b"42"
    assert cli("logs", job).out == followed.out

    got = cli("outputs", job, "--to", "got")
    assert (got.code, got.out) == (0, "Downloaded 1 file to got.\n")
    assert (tmp_path / "got" / "result.txt").read_text() == "42"
    assert cli("jobs", "--json").json[0]["id"] == job
    assert cli("jobs").out.splitlines()[1].split()[:5] == [job, "alice", "succeeded", job, "1"]
    monkeypatch.setenv("TPUCTL_MEMBER", "bob")
    assert cli("jobs", "--mine", "--json").json == [] and len(cli("jobs", "--json").json) == 1


@pytest.mark.slow
def test_a_failing_worker_is_named_with_the_end_of_its_log(cli, jobs_env, write_job, tmp_path):
    up = tmp_path / "up"        # worker 2 fails once every worker runs, however slowly the agents start
    up.mkdir()
    path = write_job("name: fails\ntpu: {type: v4-32}\nrun: |\n"
                     "  for i in $(seq 1 15); do echo line $i; done\n"
                     f"  touch {up}/$TPU_WORKER_ID\n"
                     "  if [ \"$TPU_WORKER_ID\" = 2 ]; then\n"
                     f"    while [ $(ls {up} | wc -l) -lt 4 ]; do sleep 0.05; done; echo broken >&2; exit 3\n"
                     "  fi\n"
                     "  sleep 30\n")
    result = cli("run", str(path), "--follow")
    assert result.code == ExitCode.JOB_FAILED
    job = re.search(r"Job (fails-[a-z0-9]{6})", result.err).group(1)
    tail = "".join(f"  line {i}\n" for i in range(8, 16))
    assert result.err[result.err.index("Last lines"):] == (
        f"Last lines of worker 2's log:\n{tail}  broken\n  [tpuctl] worker 2: failed (exit code 3 in run).\n"
        f"Error: Job {job} failed: worker 2 exited with code 3 in run.\n"
        f"Hint: `tpuctl logs {job} --worker 2` shows its whole log.\n")
    workers = job_state(cli, job)["attempts"][0]["workers"]
    assert [(w["state"], w["reason"]) for w in workers] == [
        ("cancelled", "worker 2 failed"), ("cancelled", "worker 2 failed"), ("failed", "exit code 3 in run"),
        ("cancelled", "worker 2 failed")]
    assert cli("list", "--json").json == []                 # its TPU was deleted once all had stopped


@pytest.mark.slow
def test_a_four_worker_job_runs_four_agents_and_deleting_the_node_stops_them(cli, jobs_env, write_job, store, agents):
    path = write_job("name: wide\ntpu: {type: v4-32}\nrun: echo I am worker $TPU_WORKER_ID\n")
    result = cli("run", str(path), "--follow", "--keep-node", "--json")
    assert result.code == 0, result.err
    data = result.json
    job = data["id"]
    assert [w["state"] for w in data["attempts"][0]["workers"]] == ["succeeded"] * 4
    for worker in range(4):
        assert f"I am worker {worker}\n" in cli("logs", job, "--worker", str(worker)).out
    pids = [int(p.read_text()) for p in sorted(agents.root.glob(f"*/{ZONE}/{job}/w*/agent.pid"))]
    assert len(set(pids)) == 4 and all(alive(pid) for pid in pids)
    beats = [json.loads(store.read(k)) for k in store.list(f"agents/{ZONE}/{job}/beat/")]
    wait_for(lambda: all(json.loads(store.read(k))["state"] == "idle" for k in store.list(f"agents/{ZONE}/{job}/beat/")))
    assert sorted(b["worker"] for b in beats) == [0, 1, 2, 3]
    assert cli("logs", job, "--worker", "4").err == "Error: Job {} has 4 workers (0 to 3), not 4.\n".format(job)

    assert cli("delete", job, "--yes").code == 0
    wait_for(lambda: not any(alive(pid) for pid in pids), what="the agents to stop")
    assert json.loads(store.read(f"agents/{ZONE}/{job}/beat/w0.json"))["state"] == "stopped"


@pytest.mark.slow
def test_cancel_stops_the_job_on_every_worker_and_deletes_its_tpu(cli, jobs_env, write_job):
    path = write_job("name: long\ntpu: {type: v4-16}\nrun: echo started; sleep 60\n")
    job = cli("run", str(path)).out.strip()
    wait_for(lambda: all(w["state"] == "running" for w in job_state(cli, job)["attempts"][0]["workers"]))
    result = cli("cancel", job)
    assert (result.code, result.out) == (0, f"Job {job} was cancelled by alice.\nDeleting TPU {job}.\n")
    workers = job_state(cli, job)["attempts"][0]["workers"]
    assert [(w["state"], w["reason"]) for w in workers] == [("cancelled", "cancelled by alice")] * 2
    assert cli("list", "--json").json == []
    followed = cli("logs", job, "-f")
    assert followed.code == ExitCode.JOB_FAILED
    assert followed.err.endswith(f"Error: Job {job} was cancelled by alice.\n")
    again = cli("cancel", job)
    assert (again.code, again.err) == (ExitCode.CONFLICT, f"Error: Job {job} has already ended (cancelled).\n")


@pytest.mark.slow
def test_names_env_and_commands_cannot_inject_shell_and_secrets_stay_out(cli, jobs_env, write_job, tmp_path):
    marker = tmp_path / "pwned"
    evil = f"$(touch {marker}); `touch {marker}`; ' \" touch {marker}"
    path = write_job("name: quoting\ntpu: {type: v4-8}\n"
                     "run: [printf '%s\\n' \"$EVIL\", echo \"token=$API_TOKEN\"]\n"
                     f"env:\n  EVIL: {json.dumps(evil)}\n  API_TOKEN: s3cr3t-value\n")
    result = cli("run", str(path), "--follow", "--keep-node")
    assert result.code == 0, result.err
    assert f"\n{evil}\n" in result.out and "token=***\n" in result.out
    assert "s3cr3t-value" not in result.out and not marker.exists()
    job = re.search(r"Job (quoting-[a-z0-9]{6})", result.err).group(1)
    metadata = node_json(jobs_env, job)["metadata"]
    assert sorted(metadata) == ["startup-script", "tpuctl-agent"]
    assert not any(secret in text for text in metadata.values() for secret in ("s3cr3t", "EVIL", "touch"))
    assert job_state(cli, job)["config"]["env"] == {"EVIL": evil, "API_TOKEN": "***"}

    bad = write_job(f"name: 'x; touch {marker}'\ntpu: {{type: v4-8}}\nrun: echo\n")
    refused = cli("run", str(bad))
    assert refused.code == ExitCode.CONFIG and "'name' must be 1-40 lowercase letters" in refused.err
    assert cli("run", f"x;touch {marker}").err.startswith(f"Error: There is no file x;touch {marker}, and it is not")
    assert cli("logs", "../../etc").err.startswith("Error: '../../etc' is not a job id")
    assert cli("run", str(path), "--node", "a;b").code == ExitCode.USAGE
    assert not marker.exists()


@pytest.mark.slow
def test_an_unchanged_workdir_is_not_uploaded_again_and_a_job_can_use_an_existing_node(cli, jobs_env, write_job, store):
    path = write_job("name: twice\ntpu: {type: v4-8}\nrun: cat data.txt\n", {"data.txt": "same bytes\n"})
    first = cli("run", str(path), "--follow", "--keep-node", "--json").json
    bundles = list(store.list("bundles/workdir/"))
    second = cli("run", str(path), "--node", first["node"], "--follow", "--json")
    assert second.code == 0, second.err
    assert second.json["node"] == first["node"] and second.json["attempts"][0]["workers"][0]["state"] == "succeeded"
    assert list(store.list("bundles/workdir/")) == bundles and len(bundles) == 1
    assert [n["name"] for n in cli("list", "--json").json] == [first["node"]]   # not the second job's to delete

    assert cli("create", "plain", "--type", "v4-8", "--no-agent").code == 0
    refused = cli("run", str(path), "--node", "plain")
    assert refused.code == ExitCode.USAGE
    assert refused.err.startswith("Error: TPU 'plain' runs no tpuctl agent: it was created with --no-agent or "
                                  "outside tpuctl.\n")


@pytest.mark.slow
def test_a_stored_config_runs_by_name_from_the_current_folder(cli, jobs_env, tmp_path):
    (tmp_path / "hello.sh").write_text("echo hello from a stored config\n")
    (tmp_path / "job.yaml").write_text("name: stored\ntpu: {type: v4-8}\nrun: bash hello.sh\n")
    assert cli("configs", "push", "job.yaml").out == "Pushed stored@v1.\n"
    result = cli("run", "stored@v1", "--follow")
    assert result.code == 0, result.err
    assert "hello from a stored config\n" in result.out
    assert job_state(cli, re.search(r"Job (stored-[a-z0-9]{6})", result.err).group(1))["source"] == "stored@v1"


def test_a_job_whose_tpu_cannot_be_created_is_recorded_as_failed(cli, jobs_env, write_job):
    jobs_env.set_capacity(ZONE, "v4", 0)
    result = cli("run", str(write_job("name: nocap\ntpu: {type: v4-8}\nrun: echo\n")))
    assert result.code == ExitCode.CAPACITY
    [listed] = cli("jobs", "--json").json
    assert listed["state"] == "failed" and listed["attempts"][0]["problem"].startswith(f"could not create TPU {listed['id']}:")


@pytest.mark.slow
def test_a_queued_job_waits_for_capacity_then_runs(cli, jobs_env, write_job):
    jobs_env.set_capacity(ZONE, "v4", 0)
    started = cli("run", str(write_job("name: patient\ntpu: {type: v4-8, queue: true}\nrun: echo finally\n")), "--json")
    assert started.code == 0, started.err
    job = started.json["id"]
    assert started.json["state"] == "pending" and started.json["attempts"][0]["workers"][0]["state"] == "pending"
    assert [q["name"] for q in cli("queue", "list", "--json").json] == [job]
    jobs_env.set_capacity(ZONE, "v4", None)
    followed = cli("logs", job, "-f")                       # following polls the request, which then gets its TPU
    assert followed.code == 0, followed.err
    assert "finally\n" in followed.out


def test_a_pending_job_whose_tpu_is_deleted_is_interrupted_not_stuck(cli, jobs_env, write_job):
    jobs_env.set_capacity(ZONE, "v4", 0)
    job = cli("run", str(write_job("name: orphan\ntpu: {type: v4-8, queue: true}\nrun: echo\n"))).out.strip()
    assert cli("queue", "delete", job, "--yes").code == 0
    followed = cli("logs", job, "-f")
    assert followed.code == ExitCode.JOB_FAILED
    assert followed.err.endswith(f"Error: Job {job} was interrupted (TPU {job} was deleted before the job ran) "
                                 "and does not resume (resume: false).\n")


@pytest.mark.slow
def test_a_jobs_cost_so_far_is_what_the_ledger_bills_its_tpu(cli, jobs_env, write_job):
    path = write_job("name: costly\ntpu: {type: v4-8}\nrun: python3 -c 'import time; time.sleep(1.5)'\n")
    result = cli("run", str(path), "--follow", "--json")
    assert result.code == 0, result.err
    job = result.json["id"]
    assert cli("list", "--json").json == []                 # released when it ended

    cost = cli("job", job, "--json").json["cost"]
    [row] = [n for n in cli("spend", "--json").json["nodes"] if n["node"] == job]
    assert row["status"] == "deleted" and row["seconds"] >= 1
    assert cost["currency"] == "USD" and cost["spent"] == row["cost"]
    assert Decimal(cost["chip_hours"]) == (Decimal(4 * row["seconds"]) / 3600).quantize(Decimal("0.000001"))
    [line] = [line for line in cli("job", job).out.splitlines() if line.startswith("cost so far:")]
    assert line.split(":", 1)[1].split() == [f"${Decimal(row['cost']).quantize(Decimal('0.01'))}",
                                             f"({Decimal(cost['chip_hours']).normalize():f}", "chip-hours)"]


def test_a_tpu_whose_agents_never_report_fails_the_followed_job_instead_of_hanging(cli, remote_env, write_job,
                                                                                   monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)             # remote_env installs no agents: the TPU boots, nothing reports
    monkeypatch.setenv("TPUCTL_JOB_TIMING", "follow=0.05,start=0.3")
    followed = cli("run", str(write_job("name: silent\ntpu: {type: v4-8}\nrun: echo hi\n")), "--follow")
    assert followed.code == ExitCode.JOB_FAILED
    assert "was READY for 0s but no tpuctl agent reported; its startup script failed" in followed.err
    assert cli("list", "--json").json == []                 # its TPU is not left running


def test_a_job_on_a_served_emulator_without_agents_says_so_at_once(cli, remote_env, write_job, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)             # remote_env installs no agents, as `tpuctl emulator serve`
    started = cli("run", str(write_job("name: nowhere\ntpu: {type: v4-8}\nrun: echo hi\n")))
    assert started.code == 0, started.err
    job = started.out.strip()
    assert (f"Warning: the emulator at {remote_env.url} runs no tpuctl agents, so no agent can run job {job} there"
            in started.err)


def test_a_job_where_agents_run_gets_no_warning(cli, jobs_env, write_job):
    started = cli("run", str(write_job("name: somewhere\ntpu: {type: v4-8}\nrun: echo hi\n")))
    assert started.code == 0 and "Warning" not in started.err
    cli("cancel", started.out.strip())
