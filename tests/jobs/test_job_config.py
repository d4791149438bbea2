"""The job config schema: every mistake is one sentence naming the file, the line and the field."""

from __future__ import annotations

import pytest

from job_helpers import EXAMPLES
from tpuctl.domain.jobs import JobConfig, TpuSpec, parse_job_config, read_header, strip_header, config_header
from tpuctl.errors import ConfigError

DEFAULTS = {"zone": "us-central2-b", "runtime": "tpu-ubuntu2204-base", "hours": 4.0}
OK = "name: a\ntpu: {type: v4-8}\nrun: x\n"


def parse(text: str) -> JobConfig:
    return parse_job_config(text, "job.yaml", **DEFAULTS)


MALFORMED = [
    ("", "line 1: the file is empty; a job config needs at least 'name', 'tpu' and 'run'."),
    ("- a\n- b\n", "line 1: the file must be a mapping of fields (key: value), not a list."),
    ("name: [a\nrun: x\n", "line 2: this is not valid YAML (expected ',' or ']', but got ':')."),
    (OK + "wrokdir: .\n", "line 4: 'wrokdir' is not a field of a job config (did you mean 'workdir'?)."),
    ("name: a\ntpu:\n  type: v4-8\n  zones: x\nrun: x\n", "line 4: 'tpu.zones' is not a field of 'tpu' (did you mean 'tpu.zone'?)."),
    ("name: a\nname: b\ntpu: {type: v4-8}\nrun: x\n", "line 2: 'name' appears twice (first on line 1)."),
    ("tpu: {type: v4-8}\nrun: x\n", "line 1: 'name' is missing (the job's name)."),
    ("name: a\ntpu: {type: v4-8}\n", "line 1: 'run' is missing (the command the job runs)."),
    ("name: My Job\ntpu: {type: v4-8}\nrun: x\n",
     "line 1: 'name' must be 1-40 lowercase letters, digits and hyphens, starting with a letter, not 'My Job'."),
    ("name: a\ntpu: {type: v4-8}\nnode: b\nrun: x\n", "line 3: 'node' cannot be given with 'tpu': run on an existing TPU or create one."),
    ("name: a\nrun: x\n", "line 1: 'node' or 'tpu' is needed (an existing TPU to run on, or a TPU to create)."),
    ("name: a\ntpu: {type: v9-8}\nrun: x\n", "line 2: 'tpu.type' must be an accelerator type such as v4-8 or v5litepod-4, not 'v9-8'."),
    ("name: a\ntpu: {spot: true}\nrun: x\n", "line 2: 'tpu.type' is missing (the accelerator type, such as v4-8)."),
    ("name: a\ntpu: {type: v4-8, spot: maybe}\nrun: x\n", "line 2: 'tpu.spot' must be true or false, not the text 'maybe'."),
    ("name: a\ntpu: {type: v4-8, zone: mars}\nrun: x\n", "line 2: 'tpu.zone' must be a zone such as us-central2-b, not 'mars'."),
    ("name: a\ntpu: [v4-8]\nrun: x\n", "line 2: 'tpu' must be a mapping of fields (key: value), not a list."),
    ("name: a\ntpu: {type: v4-8}\nrun: []\n", "line 3: 'run' must list at least one command."),
    ("name: a\ntpu: {type: v4-8}\nrun: 5\n", "line 3: 'run' must be a shell command (text) or a list of them, not the number 5."),
    ("name: a\ntpu: {type: v4-8}\nrun:\n  - ok\n  - {a: b}\n",
     "line 5: 'run' must be a shell command (text) or a list of them, not a mapping."),
    (OK + "env:\n  BAD-KEY: 1\n",
     "line 5: 'env.BAD-KEY' is not a valid variable name (letters, digits and _, not starting with a digit)."),
    (OK + "env:\n  TPU_WORKER_ID: 1\n", "line 5: 'env.TPU_WORKER_ID' is set by tpuctl itself and cannot be given."),
    (OK + "env:\n  A: [1, 2]\n", "line 5: 'env.A' must be text or a number, not a list."),
    (OK + "env: [A]\n", "line 4: 'env' must be a mapping of NAME: value, not a list."),
    (OK + "hours: two\n", "line 4: 'hours' must be a number of hours, not the text 'two'."),
    (OK + "hours: 0\n", "line 4: 'hours' must be more than 0 and at most 720, not 0."),
    (OK + "hours: true\n", "line 4: 'hours' must be a number of hours, not true."),
    (OK + "outputs: ../up\n", "line 4: 'outputs' must be a folder inside the workdir, not '../up'."),
    (OK + "outputs: /etc\n", "line 4: 'outputs' must be a folder inside the workdir, not '/etc'."),
    ("name: a\nnode: b\nrun: x\nresume: true\n", "line 4: 'resume' needs 'tpu', not 'node': a resumed job runs on a new TPU."),
    (OK + "resume: true\n", "line 4: 'resume' needs 'outputs': a resumed run continues from the checkpoint there."),
    (OK + "resume: 'yes'\n", "line 4: 'resume' must be true or false, not the text 'yes'."),
    ("name: a\nnode: 'b; rm -rf /'\nrun: x\n", "line 2: 'node' must be the name of an existing TPU, not 'b; rm -rf /'."),
    ("name: a\n---\nname: b\n", "line 2: this is not valid YAML (but found another document)."),
    (OK + "workdir: 5\n", "line 4: 'workdir' must be a folder, not the number 5."),
    ("name: a\ntpu: {type: v4-8, runtime: 'a b'}\nrun: x\n",
     "line 2: 'tpu.runtime' must be a runtime version such as tpu-ubuntu2204-base, not 'a b'."),
    ("name: !!python/object/apply:os.system [echo hi]\ntpu: {type: v4-8}\nrun: x\n",
     "line 1: this is not valid YAML (could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object/apply:os.system')."),
]


@pytest.mark.parametrize("text, message", MALFORMED, ids=[m.split(": ", 1)[1][:40] for _, m in MALFORMED])
def test_malformed_configs_are_one_clear_sentence(text, message):
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.message == f"job.yaml, {message}"
    assert caught.value.message.count(". ") == 0 and caught.value.message.endswith(".")


def test_defaults_come_from_the_profile():
    config = parse("name: a\ntpu: {type: V4-8}\nrun: python x.py\n")
    assert config.tpu == TpuSpec(type="v4-8", zone="us-central2-b", runtime="tpu-ubuntu2204-base")
    assert (config.hours, config.workdir, config.setup, config.run, config.resume) == (4.0, ".", (), ("python x.py",), False)


def test_values_are_normalised_and_round_trip():
    config = parse("name: b\ntpu: {type: v5litepod-4, spot: true, queue: true, zone: europe-west4-a}\n"
                   "setup: [pip install x, echo hi]\nrun: python t.py\nenv: {N: 3, F: 0.5, B: true, S: text}\n"
                   "hours: 1.5\noutputs: ./out/\nresume: true\n")
    assert config.env == {"N": "3", "F": "0.5", "B": "true", "S": "text"}
    assert config.outputs == "out" and config.setup == ("pip install x", "echo hi")
    assert JobConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("example, workers", [("digits", 1), ("multihost-jax", 4), ("spot-resume", 1)])
def test_the_examples_are_valid(example, workers):
    path = EXAMPLES / example / "job.yaml"
    config = parse_job_config(path.read_text(), str(path), **DEFAULTS)
    assert config.name == example and config.tpu.workers == workers
    assert (config.resume, config.tpu.spot) == ((True, True) if example == "spot-resume" else (False, False))


def test_the_version_header_round_trips():
    from datetime import datetime, timezone

    header = config_header("digits", 3, "alice", datetime(2026, 5, 1, tzinfo=timezone.utc))
    assert header.startswith("# tpuctl-config: digits@v3 (pushed by alice at 2026-05-01T00:00:00Z;")
    assert read_header(header + OK) == ("digits", 3)
    assert strip_header(header + OK) == OK and strip_header(OK) == OK
    assert parse(header + OK).name == "a"
