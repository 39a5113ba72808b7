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


def test_unambiguous_wire_is_mapped_automatically():
    design, _ = _design(PREP, REPORT, TRAIN)
    outcome = dm.connect(design, "train", "report", resolve)
    assert outcome.status == "connected"
    assert outcome.wires == (dm.Wire("train", "metrics", "report", "report"),)
    assert outcome.design.pipeline.jobs["report"].inputs["report"] == JobOutput("train", "metrics")
    [edge] = dm.edges(outcome.design)
    assert (edge.source, edge.target, edge.pending) == ("train", "report", False)
    assert edge.label() == "metrics → report"


def test_matching_names_settle_an_otherwise_ambiguous_wire():
    # train has model (folder) and metrics (file); evaluate has model (mlflow_model) and test_data:
    # folder types fit each other, so model→model and model→test_data fit; the names pick model→model.
    design, _ = _design(TRAIN, EVAL)
    outcome = dm.connect(design, "train", "evaluate", resolve)
    assert outcome.status == "connected"
    assert outcome.wires == (dm.Wire("train", "model", "evaluate", "model"),)


def test_ambiguous_wire_becomes_pending_and_asks_for_a_choice():
    design, _ = _design(PREP, TRAIN)
    outcome = dm.connect(design, "prep", "train", resolve)
    assert outcome.status == "choose"
    assert {w.input for w in outcome.choices} == {"training_data", "validation_data"}
    assert outcome.design.pending == (("prep", "train"),)
    [edge] = dm.edges(outcome.design)
    assert edge.pending and edge.label() == "choose output → input"
    [problem] = dm.design_problems(outcome.design)
    assert problem.job == "train" and "needs a mapping" in problem.message

    chosen = dm.choose_wire(outcome.design, dm.Wire("prep", "clean", "train", "training_data"))
    assert chosen.pending == ()
    assert chosen.pipeline.jobs["train"].inputs["training_data"] == JobOutput("prep", "clean")
    assert dm.design_problems(chosen) == []


def test_a_second_wire_from_the_same_job_goes_to_the_remaining_input():
    design, _ = _design(PREP, TRAIN)
    design = dm.choose_wire(design, dm.Wire("prep", "clean", "train", "training_data"))
    outcome = dm.connect(design, "prep", "train", resolve)
    assert outcome.status == "connected"
    assert outcome.wires[0].input == "validation_data"
    [edge] = dm.edges(outcome.design)
    assert len(edge.wires) == 2


def test_an_input_bound_to_a_pipeline_input_is_rewired_only_when_no_unbound_input_fits():
    design, _ = _design(PREP, TRAIN)
    design = dm.set_external_input(design, "train", "training_data", "/data/train", "uri_folder")
    outcome = dm.connect(design, "prep", "train", resolve)
    assert outcome.status == "connected"
    assert outcome.wires[0].input == "validation_data"


def test_type_incompatible_wiring_is_refused_with_the_reason():
    design, _ = _design(PREP, REPORT)
    outcome = dm.connect(design, "prep", "report", resolve)
    assert outcome.status == "refused"
    assert outcome.design is design
    assert "no output of 'prep' fits a free input of 'report'" in outcome.reason
    assert "clean (uri_folder)" in outcome.reason and "report (uri_file)" in outcome.reason


def test_wiring_into_a_job_without_data_inputs_is_refused():
    design, _ = _design(PREP, PARAMS_ONLY)
    outcome = dm.connect(design, "prep", "hello", resolve)
    assert outcome.status == "refused"
    assert "has no data inputs" in outcome.reason and "who (string)" in outcome.reason


def test_wiring_from_a_job_without_outputs_is_refused():
    design, _ = _design(REPORT, TRAIN)
    outcome = dm.connect(design, "report", "train", resolve)
    assert outcome.status == "refused" and "'report:1' has no outputs" in outcome.reason


def test_cycles_and_self_loops_are_refused():
    design, _ = _design(TRAIN, EVAL)
    design = dm.connect(design, "train", "evaluate", resolve).design
    back = dm.connect(design, "evaluate", "train", resolve)
    assert back.status == "refused" and "cycle" in back.reason
    itself = dm.connect(design, "train", "train", resolve)
    assert itself.status == "refused" and "itself" in itself.reason


def test_fully_fed_target_is_refused_and_says_what_feeds_it():
    design, _ = _design(PREP, PREP, TRAIN)
    design = dm.choose_wire(design, dm.Wire("prep", "clean", "train", "training_data"))
    design = dm.choose_wire(design, dm.Wire("prep", "clean", "train", "validation_data"))
    outcome = dm.connect(design, "prep_2", "train", resolve)
    assert outcome.status == "refused"
    assert "already fed" in outcome.reason and "training_data ← prep.clean" in outcome.reason


def test_unregistered_component_is_refused_not_crashed():
    design, _ = _design(PREP)
    ghost = _component("ghost", {"x": "uri_folder"}, {})
    design, _ = dm.add_job(design, ghost)
    outcome = dm.connect(design, "prep", "ghost", resolve)
    assert outcome.status == "refused" and "'ghost:1'" in outcome.reason and "not registered" in outcome.reason


def test_delete_edge_removes_every_wire_and_pending_mapping():
    design, _ = _design(PREP, TRAIN)
    design = dm.choose_wire(design, dm.Wire("prep", "clean", "train", "training_data"))
    design = dm.set_parameter(design, "train", "epochs", 3)
    design = dm.disconnect(design, "prep", "train")
    assert dm.edges(design) == []
    assert design.pipeline.jobs["train"].inputs == {"epochs": LiteralValue(3)}
    pending = dm.connect(design, "prep", "train", resolve).design
    assert dm.disconnect(pending, "prep", "train").pending == ()


def test_delete_job_removes_its_bindings_layout_and_published_outputs():
    design, _ = _design(PREP, TRAIN, EVAL)
    design = dm.choose_wire(design, dm.Wire("prep", "clean", "train", "training_data"))
    design = dm.connect(design, "train", "evaluate", resolve).design
    design = dm.connect(design, "prep", "evaluate", resolve).design
    design = dm.remove_job(design, "prep")
    assert set(design.pipeline.jobs) == {"train", "evaluate"}
    assert "prep" not in design.layout
    assert "training_data" not in design.pipeline.jobs["train"].inputs
    assert [(e.source, e.target) for e in dm.edges(design)] == [("train", "evaluate")]
    with pytest.raises(KeyError, match="job 'prep' is not in pipeline 'demo'"):
        dm.remove_job(design, "prep")


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
    design = dm.choose_wire(design, dm.Wire("prep", "clean", "train", "training_data"))
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
