"""`logs --tail N`, and `jobs` saying when and by whom each finished job's TPU was released."""

from __future__ import annotations

import pytest



@pytest.mark.slow
def test_logs_tail_shows_the_end_and_jobs_says_who_released_each_tpu(cli, jobs_env, write_job, store):
    path = write_job("name: count\ntpu: {type: v4-8}\nrun: for i in $(seq 1 20); do echo line $i; done\n")
    ran = cli("run", str(path), "--follow", "--json")
    assert ran.code == 0, ran.err
    job = ran.json["id"]
    tail = cli("logs", job, "--tail", "3")
    assert (tail.code, tail.out) == (0, "line 19\nline 20\n[tpuctl] worker 0: succeeded.\n")
    followed = cli("logs", job, "--tail", "1", "-f")
    assert followed.out == "[tpuctl] worker 0: succeeded.\n"

    assert cli("create", "a1", "--type", "v4-8").code == 0
    on_a1 = cli("run", str(write_job("name: there\nnode: a1\nrun: echo hi\n")), "--follow")
    assert on_a1.code == 0, on_a1.err
    released = ran.json["release"] or cli("job", job, "--json").json["release"]
    rows = {line.split()[0]: line for line in cli("jobs").out.splitlines()[1:]}
    assert cli("jobs").out.splitlines()[0].endswith("TPU RELEASED")
    assert rows[job].endswith(f"{released['released']} by alice ({released['via']})")
    [other] = [k for k in rows if k != job]
    assert rows[other].endswith("no (not its own)")
