"""Signatures: what is in them, what is not, and how a difference is put in words."""

from __future__ import annotations

from components.spec import ComponentSpec, EnvironmentSpec, InputSpec
from engine.signature import (
    StepIngredients,
    coerce_parameter,
    diff_ingredients,
    environment_fingerprint,
    parameters_after_defaults,
)


def ing(**kw) -> StepIngredients:
    base = dict(component="train", version="1", component_digest="d1", parameters={"lr": 0.01, "epochs": 5},
                inputs={"data": "aaa"}, environment="py", code_manifest={"train.py": "f1", "util.py": "u1"},
                input_sources={"data": "job:prep.clean"})
    base.update(kw)
    return StepIngredients(**base)


def test_signature_is_stable_and_ignores_explanation_only_fields():
    a = ing()
    assert a.signature == ing().signature
    assert len(a.signature) == 64
    # where the data came from and the per-file manifest do not change the signature
    assert ing(input_sources={"data": "path:/x"}).signature == a.signature
    assert ing(code_manifest={}).signature == a.signature


def test_each_ingredient_changes_the_signature():
    a = ing().signature
    assert ing(component_digest="d2").signature != a
    assert ing(version="2").signature != a
    assert ing(parameters={"lr": 0.02, "epochs": 5}).signature != a
    assert ing(inputs={"data": "bbb"}).signature != a
    assert ing(environment="py2").signature != a


def test_round_trip_through_json_keeps_the_signature():
    a = ing()
    assert StepIngredients.from_dict(a.to_dict()).signature == a.signature


def test_parameters_after_defaults_are_canonically_typed():
    comp = ComponentSpec(name="c", version="1", inputs={
        "lr": InputSpec("lr", "number", default=0.5), "n": InputSpec("n", "integer", default=3),
        "data": InputSpec("data", "uri_folder"), "opt": InputSpec("opt", "string", optional=True)})
    assert parameters_after_defaults(comp, {"lr": 1}) == {"lr": 1.0, "n": 3, "opt": None}
    # 1 and 1.0 for a number are the same parameter value, so the same signature
    assert ing(parameters={"lr": coerce_parameter("number", 1)}).signature == \
        ing(parameters={"lr": coerce_parameter("number", 1.0)}).signature


def test_environment_fingerprint_follows_the_spec_content():
    current = environment_fingerprint(EnvironmentSpec())
    assert environment_fingerprint(EnvironmentSpec(kind="unsupported", reference="docker:x")) == current
    pip_a = environment_fingerprint(EnvironmentSpec(kind="pip", pip=("pandas==2.2",)))
    assert pip_a != current
    assert pip_a != environment_fingerprint(EnvironmentSpec(kind="pip", pip=("pandas==2.1",)))


def test_diff_names_parameter_code_input_and_environment_changes():
    old = ing()
    assert diff_ingredients(old, ing(parameters={"lr": 0.02, "epochs": 5})) == ["parameter lr 0.01 → 0.02"]
    assert diff_ingredients(old, ing(component_digest="d2", code_manifest={"train.py": "f2", "util.py": "u1"})) \
        == ["code changed: train.py"]
    new_files = ing(component_digest="d2", code_manifest={"train.py": "f1", "new.py": "n"})
    assert diff_ingredients(old, new_files) == ["code changed: +new.py, -util.py"]
    assert diff_ingredients(old, ing(inputs={"data": "bbb"})) == ["input data changed (upstream prep re-ran)"]
    assert diff_ingredients(old, ing(inputs={"data": "bbb"}, input_sources={"data": "path:/d"})) \
        == ["input data changed (data at /d)"]
    assert diff_ingredients(old, ing(component_digest="d9")) == ["component definition changed"]
    assert diff_ingredients(old, ing(environment="other")) == ["environment changed"]
    assert diff_ingredients(old, ing()) == []


def test_diff_of_a_string_parameter_quotes_it():
    old = ing(parameters={"mode": "fast"})
    assert diff_ingredients(old, ing(parameters={"mode": "slow"})) == ['parameter mode "fast" → "slow"']
