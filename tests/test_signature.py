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
    # a bound value that is unset (an unset optional pipeline input) takes the default, never None over it
    assert parameters_after_defaults(comp, {"lr": None, "n": None}) == {"lr": 0.5, "n": 3, "opt": None}
    assert parameters_after_defaults(comp, {"n": 0, "opt": ""}) == {"lr": 0.5, "n": 0, "opt": ""}
    # 1 and 1.0 for a number are the same parameter value, so the same signature
    assert ing(parameters={"lr": coerce_parameter("number", 1)}).signature == \
        ing(parameters={"lr": coerce_parameter("number", 1.0)}).signature


def test_environment_fingerprint_describes_what_runs():
    current, said = environment_fingerprint(EnvironmentSpec(), None)
    assert said == "current"
    # an Azure reference or an image runs in the current environment: fingerprinted as that, and said
    azure = EnvironmentSpec(kind="unsupported", reference="azureml:foo:1")
    assert environment_fingerprint(azure, None) == (current, "current (fallback from azureml:foo:1)")
    assert environment_fingerprint(EnvironmentSpec(kind="unsupported", reference="docker:x"), None)[0] == current
    # a conda file that cannot be built here runs in the current environment too
    conda = EnvironmentSpec(kind="conda", conda={"dependencies": ["python=3.11", "cudatoolkit"]})
    assert environment_fingerprint(conda, None) == (
        current, "current (fallback from the conda file: conda is not installed)")
    # a built environment is fingerprinted by its content, whichever spec asked for it
    pip = EnvironmentSpec(kind="pip", pip=("pandas==2.2",))
    pip_a, said = environment_fingerprint(pip, {"pip": ["pandas==2.2"]})
    assert pip_a != current and said == "pip requirements"
    assert pip_a != environment_fingerprint(pip, {"pip": ["pandas==2.1"]})[0]
    as_pip = EnvironmentSpec(kind="conda", conda={"dependencies": ["python", {"pip": ["pandas==2.2"]}]})
    assert environment_fingerprint(as_pip, {"pip": ["pandas==2.2"]}) == (
        pip_a, "pip packages of the conda file (conda not installed)")
    built = environment_fingerprint(as_pip, {"conda": dict(as_pip.conda)})
    assert built[0] not in (current, pip_a) and built[1] == "conda file"


def test_environment_variables_are_ingredients_and_named_in_the_diff():
    old = ing(environment_variables={"FOO": "1", "GONE": "x"})
    assert ing(environment_variables={"FOO": "2", "GONE": "x"}).signature != old.signature
    assert ing(environment_variables={}).signature != old.signature
    assert StepIngredients.from_dict(old.to_dict()) == old
    new = ing(environment_variables={"FOO": "2", "NEW": "y"})
    # names only: a variable may hold a secret
    assert diff_ingredients(old, new) == ["environment variable FOO changed", "environment variable GONE removed",
                                          "environment variable NEW added"]


def test_automatic_versions_are_not_named_but_what_changed_is():
    old = ing(version="auto-aaaaaaaaaaaa", definition={"name": "n1", "command": "c1", "inputs": "i1"})
    new = ing(version="auto-bbbbbbbbbbbb", component_digest="d2",
              definition={"name": "n1", "command": "c2", "inputs": "i1"})
    assert diff_ingredients(old, new) == ["component definition changed: command"]
    code = ing(version="auto-bbbbbbbbbbbb", component_digest="d2", definition=dict(old.definition),
               code_manifest={"train.py": "f2", "util.py": "u1"})
    assert diff_ingredients(old, code) == ["code changed: train.py"]
    # explicit versions are named
    assert diff_ingredients(ing(version="1"), ing(version="2")) == ["component changed: train:1 → train:2"]


def test_an_environment_change_says_what_ran_before_and_now():
    old = ing(environment="py/cache-2", environment_source="current (fallback from azureml:foo:1)")
    new = ing(environment="py/cache-2/pip-x", environment_source="pip requirements")
    assert diff_ingredients(old, new) == [
        "environment changed: current (fallback from azureml:foo:1) → pip requirements"]
    upgraded = diff_ingredients(ing(environment="python-3.11.7/cache-1"), ing(environment="python-3.11.7/cache-2"))
    assert upgraded == ["cache format changed (1 → 2: a Ductwork upgrade reruns every step once)"]


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
