"""The designer model: canvas edits ⇄ PipelineSpec, with the wiring rules."""

from __future__ import annotations

import pytest

from app.ui import designer_model as dm
from components.spec import (
    ComponentRef,
    ComponentSpec,
    ExternalData,
    InputSpec,
    JobOutput,
    LiteralValue,
    OutputSpec,
    ParentInput,
    PipelineSettings,
)


def _component(name: str, inputs: dict[str, str] | None = None, outputs: dict[str, str] | None = None, **kw):
    return ComponentSpec(
        name=name,
        version="1",
        inputs={k: InputSpec(k, t) for k, t in (inputs or {}).items()},
        outputs={k: OutputSpec(k, t) for k, t in (outputs or {}).items()},
        command="true",
        **kw,
    )


PREP = _component("prep", {"raw": "uri_folder", "min_len": "integer"}, {"clean": "uri_folder"})
TRAIN = _component(
    "train",
    {"training_data": "uri_folder", "validation_data": "uri_folder", "epochs": "integer"},
    {"model": "uri_folder", "metrics": "uri_file"},
    compute="gpu",
)
EVAL = _component("evaluate", {"model": "mlflow_model", "test_data": "uri_folder"}, {"report": "uri_file"})
REPORT = _component("report", {"report": "uri_file"}, {})
PARAMS_ONLY = _component("hello", {"who": "string"}, {"out": "uri_folder"})
COMPONENTS = {c.name: c for c in (PREP, TRAIN, EVAL, REPORT, PARAMS_ONLY)}


def resolve(ref: ComponentRef) -> ComponentSpec:
    try:
        return COMPONENTS[ref.name]
    except KeyError:
        raise KeyError(f"component '{ref}' is not registered") from None


def _design(*components: ComponentSpec) -> tuple[dm.Design, list[str]]:
    design = dm.new_design("demo")
    names = []
    for comp in components:
        design, name = dm.add_job(design, comp)
        names.append(name)
    return design, names


def test_add_job_names_it_after_the_component_and_places_it_right_of_the_others():
    design, names = _design(PREP, PREP, TRAIN)
    assert names == ["prep", "prep_2", "train"]
    assert design.pipeline.jobs["prep"].component == ComponentRef("prep", "1")
    xs = [design.layout[n][0] for n in names]
    assert xs == sorted(xs) and len(set(xs)) == 3


def _wire(edge: str) -> dm.Wire:
    wire = dm.parse_wire_id(edge)
    assert wire is not None
    return wire


def test_a_port_to_port_edge_binds_that_input_to_that_output():
    design, _ = _design(PREP, TRAIN)
    outcome = dm.connect(design, _wire("prep.clean->train.validation_data"), resolve)
    assert outcome.status == "connected"
    assert outcome.design.pipeline.jobs["train"].inputs == {"validation_data": JobOutput("prep", "clean")}
    assert [w.id for w in dm.wires(outcome.design)] == ["prep.clean->train.validation_data"]
    assert dm.connect(outcome.design, outcome.wire, resolve).status == "unchanged"


def test_connecting_to_a_bound_input_replaces_the_binding_and_says_what_it_was():
    design, _ = _design(PREP, PREP, TRAIN)
    design = dm.connect(design, _wire("prep.clean->train.training_data"), resolve).design
    outcome = dm.connect(design, _wire("prep_2.clean->train.training_data"), resolve)
    assert outcome.status == "replaced" and outcome.previous == "prep.clean"
    assert outcome.design.pipeline.jobs["train"].inputs["training_data"] == JobOutput("prep_2", "clean")
    external = dm.set_external_input(design, "train", "validation_data", "/data/v", "uri_folder")
    again = dm.connect(external, _wire("prep.clean->train.validation_data"), resolve)
    assert again.status == "replaced" and again.previous == "the path /data/v"


@pytest.mark.parametrize(
    ("edge", "reason"),
    [
        ("train.metrics->evaluate.model", "the output is uri_file and the input takes mlflow_model"),
        ("train.model->train.training_data", "a job cannot feed its own inputs"),
        ("prep.clean->hello.who", "'who' is a parameter (string)"),
        ("prep.nothing->train.training_data", "'prep:1' has no output 'nothing' (outputs: clean (uri_folder))"),
        ("prep.clean->train.nothing", "'train:1' has no input 'nothing'"),
        ("prep.clean->ghost.data", "there is no job 'ghost'"),
    ],
)
def test_a_refused_edge_says_why(edge, reason):
    design, _ = _design(PREP, TRAIN, EVAL, PARAMS_ONLY)
    outcome = dm.connect(design, _wire(edge), resolve)
    assert outcome.status == "refused" and outcome.design is design
    assert reason in outcome.reason


def test_an_edge_that_closes_a_cycle_is_refused():
    design, _ = _design(PREP, TRAIN, EVAL)
    design = dm.connect(design, _wire("train.model->evaluate.model"), resolve).design
    back = dm.connect(design, _wire("evaluate.report->train.training_data"), resolve)
    assert back.status == "refused"  # types refuse it first: a file cannot feed a folder
    design = dm.connect(design, _wire("prep.clean->train.training_data"), resolve).design
    design2, _ = dm.add_job(design, PREP)
    cyc = dm.connect(design2, _wire("train.model->prep.raw"), resolve)
    assert cyc.status == "refused" and "would make a cycle" in cyc.reason


def test_an_unregistered_component_refuses_with_how_to_fix():
    design, _ = _design(PREP)
    design, ghost = dm.add_job(design, _component("ghost", {"data": "uri_folder"}))
    outcome = dm.connect(design, _wire(f"prep.clean->{ghost}.data"), resolve)
    assert outcome.status == "refused" and "is not registered. Register it" in outcome.reason


def test_disconnect_removes_only_that_binding():
    design, _ = _design(PREP, TRAIN)
    design = dm.connect(design, _wire("prep.clean->train.training_data"), resolve).design
    design = dm.connect(design, _wire("prep.clean->train.validation_data"), resolve).design
    design = dm.disconnect(design, _wire("prep.clean->train.training_data"))
    assert [w.id for w in dm.wires(design)] == ["prep.clean->train.validation_data"]
    assert dm.disconnect(design, _wire("prep.clean->train.training_data")) is design


def test_remove_job_drops_the_bindings_it_fed():
    design, _ = _design(PREP, TRAIN, EVAL)
    design = dm.connect(design, _wire("prep.clean->train.training_data"), resolve).design
    design = dm.connect(design, _wire("train.model->evaluate.model"), resolve).design
    design = dm.connect(design, _wire("prep.clean->evaluate.test_data"), resolve).design
    design = dm.remove_job(design, "prep")
    assert "prep" not in design.layout
    assert "training_data" not in design.pipeline.jobs["train"].inputs
    assert [w.id for w in dm.wires(design)] == ["train.model->evaluate.model"]
    with pytest.raises(KeyError, match="job 'prep' is not in pipeline 'demo'"):
        dm.remove_job(design, "prep")


def test_copy_jobs_keeps_bindings_among_the_copies_and_drops_the_rest():
    design, _ = _design(PREP, TRAIN, EVAL)
    design = dm.connect(design, _wire("prep.clean->train.training_data"), resolve).design
    design = dm.connect(design, _wire("train.model->evaluate.model"), resolve).design
    design = dm.set_parameter(design, "train", "epochs", 3)
    pasted, copies = dm.copy_jobs(design, ["train", "evaluate", "ghost"], 40, 40)
    assert copies == ["train_2", "evaluate_2"]
    assert pasted.pipeline.jobs["train_2"].inputs == {"epochs": LiteralValue(3)}
    assert pasted.pipeline.jobs["evaluate_2"].inputs == {"model": JobOutput("train_2", "model")}
    x, y = design.layout["train"]
    assert pasted.layout["train_2"] == (x + 40, y + 40)
    assert dm.copy_jobs(design, ["ghost"]) == (design, [])


def test_parse_wire_id_reads_only_edge_ids():
    assert dm.parse_wire_id("a.b->c.d") == dm.Wire("a", "b", "c", "d")
    for junk in ("", "a->b", "a.b->c", "edge:a->b", ".b->c.d"):
        assert dm.parse_wire_id(junk) is None


def test_parameters_compute_and_external_inputs():
    design, _ = _design(PREP)
    design = dm.set_parameter(design, "prep", "min_len", 4)
    assert design.pipeline.jobs["prep"].inputs["min_len"] == LiteralValue(4)
    design = dm.set_parameter(design, "prep", "min_len", None)
    assert "min_len" not in design.pipeline.jobs["prep"].inputs
    design = dm.set_external_input(design, "prep", "raw", "/data/raw", "uri_folder")
    assert design.pipeline.jobs["prep"].inputs["raw"] == ExternalData("/data/raw", "uri_folder")
    design = dm.set_input(design, "prep", "raw", ParentInput("raw"))
    assert design.pipeline.jobs["prep"].inputs["raw"] == ParentInput("raw")
    assert dm.effective_compute(design, "prep", PREP) == "local"
    design = dm.set_compute(design, "prep", "cpu-highmem")
    assert dm.effective_compute(design, "prep", PREP) == "cpu-highmem"


def test_effective_compute_falls_back_from_job_to_component_to_pipeline_default():
    from dataclasses import replace

    design, _ = _design(TRAIN, PREP)
    assert dm.effective_compute(design, "train", TRAIN) == "gpu"
    design = replace(design, pipeline=replace(design.pipeline, settings=PipelineSettings(default_compute="local")))
    assert dm.effective_compute(design, "prep", PREP) == "local"


def test_layout_round_trips_and_missing_positions_are_laid_out_by_depth():
    design, _ = _design(PREP, TRAIN, EVAL)
    design = dm.connect(design, _wire("prep.clean->train.training_data"), resolve).design
    design = dm.move_jobs(design, {"prep": (10.26, 20.0), "nobody": (0, 0)})
    saved = dm.layout_to_dict(design)["nodes"]
    assert saved["prep"] == {"x": 10.3, "y": 20.0} and "nobody" not in saved
    assert dm.layout_from_dict(dm.layout_to_dict(design)) == {k: (v["x"], v["y"]) for k, v in saved.items()}
    reopened = dm.design_from_pipeline(design.pipeline, {"prep": saved["prep"], "train": [300, 20]})
    assert reopened.layout["prep"] == (10.3, 20.0) and reopened.layout["train"] == (300.0, 20.0)
    assert "evaluate" in reopened.layout
    auto = dm.auto_layout(design.pipeline)
    assert auto["prep"][0] < auto["train"][0]
    assert dm.layout_from_dict({"nodes": {"a": {"x": "bad"}, "b": {"x": 1, "y": 2}}}) == {"b": (1.0, 2.0)}


def test_types_fit_rules():
    assert dm.types_fit("uri_folder", "mltable")
    assert dm.types_fit("uri_file", "uri_file")
    assert not dm.types_fit("uri_file", "uri_folder")
    assert not dm.types_fit("uri_folder", "integer")
