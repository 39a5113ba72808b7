"""What a run spent and what reuse saved: the arithmetic (engine/costs.py), what the scheduler
records for it, and the DuckDB columns that keep it (with the migration of older files)."""

from __future__ import annotations

import math

import duckdb
import pytest
from test_engine_support import Harness, chain_pipeline, copy_code, make_data, statuses, step

from engine.compute import ComputeSpec
from engine.costs import (
    Spend,
    describe_costs,
    format_hours,
    format_money,
    run_costs,
    step_cost,
)
from engine.duckdb_store import DuckDBRunStore
from engine.records import StepRunRecord

GPU = ComputeSpec("gpu", cpus=1, price_per_hour=3.6)
CPU = ComputeSpec("cpu-highmem", cpus=1, price_per_hour=0.0)  # no price set
COMPUTES = {"gpu": GPU, "cpu-highmem": CPU}
JOBS = {"prep": {"compute": "cpu-highmem"}, "train": {"compute": "gpu"}, "evaluate": {"compute": "gpu"}}


def _step(job: str, status: str, compute: str, duration: float, price: float = 0.0,
          saved: float | None = None, saved_price: float | None = None) -> StepRunRecord:
    return StepRunRecord("r", job, status=status, compute=compute, duration_s=duration, price_per_hour=price,
                         saved_s=saved, saved_price_per_hour=saved_price)


def test_the_summary_line_reads_saved_then_spent_per_target_with_money_only_where_a_price_is_set():
    steps = [
        _step("prep", "reused", "cpu-highmem", 0.0, saved=3600.0, saved_price=0.0),
        _step("train", "reused", "gpu", 0.0, saved=4440.0, saved_price=4.54),
        _step("fit", "completed", "gpu", 240.0, price=2.55),
        _step("index", "failed", "cpu-highmem", 60.0),
    ]
    costs = run_costs(steps)
    assert costs.saved == Spend(8040.0, 4440.0 * 4.54 / 3600, priced=True)
    assert costs.spent == Spend(300.0, 240.0 * 2.55 / 3600, priced=True)
    assert costs.by_compute == {"gpu": Spend(240.0, 0.17, priced=True), "cpu-highmem": Spend(60.0, 0.0)}
    assert describe_costs(costs) == "reuse saved 2 h 14 min and $5.60; spent 4 min ($0.17) on gpu, 1 min on cpu-highmem"
    assert [step_cost(s) for s in steps] == [0.0, 4440.0 * 4.54 / 3600, 0.17, 0.0]
    assert costs.to_dict() == {
        "spent": {"seconds": 300.0, "cost": 0.17,
                  "by_compute": {"gpu": {"seconds": 240.0, "cost": 0.17},
                                 "cpu-highmem": {"seconds": 60.0, "cost": 0.0}}},
        "saved": {"seconds": 8040.0, "cost": 4440.0 * 4.54 / 3600}}
    unpriced = run_costs([_step("a", "reused", "local", 0.0, saved=600.0), _step("b", "completed", "local", 60.0)])
    assert describe_costs(unpriced) == "reuse saved 10 min; spent 1 min on local"


def test_nothing_reused_or_nothing_run_and_short_amounts_read_plainly():
    assert describe_costs(run_costs([])) == "spent nothing"
    assert describe_costs(run_costs([_step("a", "reused", "local", 0.0, saved=4.25)])) == \
        "reuse saved 4.2 s; spent nothing"
    assert [format_hours(s) for s in (0.42, 12.4, 59.0, 61.0, 3600.0, 8040.0)] == \
        ["0.4 s", "12 s", "59 s", "1 min", "1 h", "2 h 14 min"]
    assert [format_money(c) for c in (5.6, 0.0031, 0.0)] == ["$5.60", "$0.0031", "$0.00"]


def test_sums_are_exact_whatever_the_order_of_the_steps():
    steps = [_step(f"s{i}", "completed", "gpu", 0.1 * (i + 1), price=0.7) for i in range(50)]
    forward, backward = run_costs(steps), run_costs(reversed(steps))
    assert forward == backward
    assert forward.spent.cost == math.fsum(s.duration_s * 0.7 / 3600 for s in steps)


def test_a_run_records_what_it_spent_and_what_reuse_saved_and_the_sums_match_the_store(tmp_path):
    store = DuckDBRunStore(tmp_path / "runs.duckdb")
    h = Harness(tmp_path, store=store, computes=COMPUTES)
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path), jobs_kw=JOBS)
    first = h.run(spec)
    assert {s.job: s.price_per_hour for s in first.steps} == {"prep": 0.0, "train": 3.6, "evaluate": 3.6,
                                                            "report": 0.0}
    second = h.run(spec, {"lr": 0.5})
    assert statuses(second) == {"prep": "reused", "train": "completed", "evaluate": "completed", "report": "reused"}
    prep_first, prep_again = step(first, "prep"), step(second, "prep")
    assert (prep_again.saved_s, prep_again.saved_price_per_hour) == (prep_first.duration_s, 0.0)
    assert second.saved_s == prep_first.duration_s + step(first, "report").duration_s

    con = duckdb.connect(str(store.path), read_only=True)
    try:
        rows = con.execute("SELECT run_id, job, status, compute, duration_s, price_per_hour, saved_s, "
                           "saved_price_per_hour FROM step_runs").fetchall()
        reuse_prices = dict(con.execute("SELECT job, price_per_hour FROM reuse").fetchall())
    finally:
        con.close()
    assert reuse_prices == {"prep": 0.0, "train": 3.6, "evaluate": 3.6, "report": 0.0}
    for result in (first, second):
        recorded = [r for r in rows if r[0] == result.run.id]
        costs = run_costs(store.step_runs(result.run.id))
        ran = [r for r in recorded if r[2] != "reused"]
        reused = [r for r in recorded if r[2] == "reused"]
        assert costs.spent.seconds == math.fsum(r[4] for r in ran)
        assert costs.spent.cost == math.fsum(r[4] * r[5] / 3600 for r in ran if r[5])
        assert costs.by_compute["gpu"] == Spend(math.fsum(r[4] for r in ran if r[3] == "gpu"),
                                                math.fsum(r[4] * r[5] / 3600 for r in ran if r[3] == "gpu"), True)
        assert costs.saved.seconds == math.fsum(r[6] for r in reused)
        assert costs.saved.cost == 0.0 and not costs.saved.priced  # only unpriced steps were reused
    assert run_costs(store.step_runs(first.run.id)).saved == Spend()

    third = h.run(spec, {"lr": 0.5})
    assert set(statuses(third).values()) == {"reused"}
    saved = run_costs(store.step_runs(third.run.id)).saved
    assert saved.seconds == math.fsum([*(s.duration_s for s in first.steps if s.job in ("prep", "report")),
                                       step(second, "train").duration_s, step(second, "evaluate").duration_s])
    assert saved.cost == pytest.approx((step(second, "train").duration_s + step(second, "evaluate").duration_s)
                                       * 3.6 / 3600, rel=1e-12)


def test_a_run_store_made_before_the_cost_columns_gains_them_and_old_rows_read_as_unpriced(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE step_runs (run_id VARCHAR, job VARCHAR, component VARCHAR, status VARCHAR,
            signature VARCHAR, ingredients JSON, reused_from VARCHAR, compute VARCHAR, resources JSON,
            node_id VARCHAR, started_at DOUBLE, ended_at DOUBLE, exit_code INTEGER, error VARCHAR,
            log_path VARCHAR, reason VARCHAR, outputs JSON, attempts INTEGER, duration_s DOUBLE,
            position INTEGER, PRIMARY KEY (run_id, job));
        CREATE TABLE reuse (signature VARCHAR PRIMARY KEY, run_id VARCHAR, job VARCHAR, outputs JSON,
            duration_s DOUBLE, created_at DOUBLE);
        INSERT INTO step_runs (run_id, job, component, status, compute, duration_s, position)
            VALUES ('old', 'train', 'train:1', 'completed', 'gpu', 12.5, 0);
        INSERT INTO reuse VALUES ('sig', 'old', 'train', '{}', 12.5, 1.0);""")
    con.close()
    store = DuckDBRunStore(path)
    [old] = store.step_runs("old")
    assert (old.duration_s, old.price_per_hour, old.saved_s, old.saved_price_per_hour) == (12.5, 0.0, None, None)
    assert store.find_reuse(["sig"])["sig"].price_per_hour == 0.0
    assert run_costs([old]).spent == Spend(12.5, 0.0, priced=False)
    assert store.step_runs_of(["old", "none"]) == {"old": [old], "none": []}
