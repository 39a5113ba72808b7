"""Faults in an S3 store (moto in its own process, tests/clusterkit.py) while a run uses it:
the store stops answering in the middle of a step, or is gone before the run starts. The
run ends with a clear message, nothing half-committed is reused, and the next run (with the
store back) completes. In-process executor: the faults are the store's, not Ray's."""

from __future__ import annotations

import json

from clusterkit import S3Server

KILLER = """\
type: command
name: cut_the_store
version: 1
inputs:
  tag: {type: string, default: a}
outputs:
  out: {type: uri_folder}
command: >-
  echo ${{inputs.tag}} > ${{outputs.out}}/made.txt && kill -9 $DW_S3_PID
"""


def test_a_store_that_dies_mid_step_fails_the_step_clearly_and_the_rerun_completes(cli, tmp_path):
    server = S3Server(tmp_path / "s3").start()
    try:
        store = server.make_bucket("faults") + "/team"
        (tmp_path / "killer.yml").write_text(KILLER)
        (tmp_path / "p.yml").write_text("type: pipeline\nname: store_dies\njobs:\n  cut:\n"
                                        "    component: ./killer.yml\n")
        env = {**server.env, "DUCTWORK_STORE": store, "DW_S3_PID": str(server.pid)}
        done = cli("run", str(tmp_path / "p.yml"), "--in-process", "--json", home=tmp_path / "ws", env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        step = json.loads(done.stdout)["steps"][0]
        assert step["status"] == "failed"
        assert step["error"].startswith("could not upload its outputs to the store s3://faults/team"), step["error"]
        # the store is back (empty: a new server): the rerun runs the step again and completes
        server.start()
        server.make_bucket("faults")
        env = {**server.env, "DUCTWORK_STORE": store, "DW_S3_PID": "0"}
        fixed = (tmp_path / "killer.yml").read_text().replace(" && kill -9 $DW_S3_PID", "")
        (tmp_path / "killer.yml").write_text(fixed)
        rerun = cli("run", str(tmp_path / "p.yml"), "--in-process", "--json", home=tmp_path / "ws", env=env)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
        assert json.loads(rerun.stdout)["steps"][0]["status"] == "completed"
    finally:
        server.stop()


def test_a_store_that_is_gone_before_the_run_is_an_error_and_nothing_is_recorded(cli, tmp_path):
    server = S3Server(tmp_path / "s3").start()
    try:
        store = server.make_bucket("gone") + "/team"
        env = {**server.env, "DUCTWORK_STORE": store}
        (tmp_path / "step.yml").write_text("type: command\nname: s\nversion: 1\noutputs:\n  out: {type: uri_folder}\n"
                                           "command: echo hi > ${{outputs.out}}/x\n")
        (tmp_path / "p.yml").write_text("type: pipeline\nname: gone\njobs:\n  s:\n    component: ./step.yml\n")
        first = cli("run", str(tmp_path / "p.yml"), "--in-process", "--json", home=tmp_path / "ws", env=env)
        assert first.returncode == 0, first.stderr
        server.kill()
        plan = cli("run", str(tmp_path / "p.yml"), "--plan", home=tmp_path / "ws", env=env)
        again = cli("run", str(tmp_path / "p.yml"), "--in-process", home=tmp_path / "ws", env=env)
        for result in (plan, again):
            assert result.returncode == 2 and "cannot be reached" in result.stderr, result.stderr
            assert "Traceback" not in result.stderr
        runs = json.loads(cli("runs", "list", "--json", home=tmp_path / "ws", env={}).stdout)
        assert len(runs) == 1  # only the first run is recorded
    finally:
        server.stop()
