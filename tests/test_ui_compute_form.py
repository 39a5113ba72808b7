"""The Compute page's forms through AppTest: values typed survive a validation error, the
message names the form's fields (never a CLI option), and a success starts the form afresh.
The service's structured error is phrased by each front end: the CLI with its options."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.services.compute import CLI_OPTIONS, ComputeInputError, add_compute, check_compute_fields
from app.services.workspace import open_workspace

TIMEOUT = 60


def _page() -> None:
    from app.ui.views import compute_page

    compute_page.render()


def _app() -> AppTest:
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def _errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def _fill(at: AppTest, **values) -> None:
    for field, value in values.items():
        widget = at.text_input(key=f"compute_new_{field}") if field in ("name", "memory", "resources", "description") \
            else at.number_input(key=f"compute_new_{field}")
        widget.set_value(value)


def _submit(at: AppTest) -> None:
    at.tabs[0].button[0].click().run()
    assert not at.exception, at.exception


def test_values_stay_after_an_error_and_the_message_names_the_form_fields(home):
    at = _app()
    _fill(at, name="gpu-big", cpus=4.0, gpus=1.0, memory="8XB", resources="CPU=2, highmem", price_per_hour=0.5,
          description="a big one")
    _submit(at)
    message = _errors(at)
    assert "Check these 3 fields" in message
    assert "**Memory** '8XB' is not a size" in message
    assert "**Custom Ray resources**: custom resource 'highmem' is not NAME=NUMBER" in message
    assert "**Custom Ray resources**: 'CPU' is reserved: use **CPUs**, **GPUs** or **Memory** instead" in message
    assert "--" not in message
    # nothing typed is lost
    assert at.text_input(key="compute_new_name").value == "gpu-big"
    assert at.number_input(key="compute_new_cpus").value == 4.0
    assert at.number_input(key="compute_new_gpus").value == 1.0
    assert at.text_input(key="compute_new_memory").value == "8XB"
    assert at.text_input(key="compute_new_resources").value == "CPU=2, highmem"
    assert at.number_input(key="compute_new_price_per_hour").value == 0.5
    assert at.text_input(key="compute_new_description").value == "a big one"
    assert "gpu-big" not in at.dataframe[0].value["name"].tolist()

    # fixing the one field is enough; the success clears the form
    at.text_input(key="compute_new_memory").set_value("8GB")
    at.text_input(key="compute_new_resources").set_value("highmem=1")
    _submit(at)
    assert not at.error
    assert any("Added compute target 'gpu-big'" in s.value for s in at.success)
    assert "gpu-big" in at.dataframe[0].value["name"].tolist()
    assert at.text_input(key="compute_new_name").value == ""
    assert at.text_input(key="compute_new_memory").value == ""
    assert at.number_input(key="compute_new_cpus").value == 1.0


def test_a_missing_or_bad_name_names_the_name_field(home):
    at = _app()
    _fill(at, memory="4GB")
    _submit(at)
    assert "**Name** is empty: give the compute target a name" in _errors(at)
    assert at.text_input(key="compute_new_memory").value == "4GB"
    _fill(at, name="bad name")
    _submit(at)
    assert "**Name** 'bad name' is not a valid compute target name" in _errors(at)


def test_an_existing_name_is_shown_under_the_form_and_keeps_the_values(home):
    at = _app()
    _fill(at, name="local", memory="2GB")
    _submit(at)
    assert "compute target 'local' already exists" in _errors(at)
    assert at.text_input(key="compute_new_memory").value == "2GB"


def test_the_edit_form_keeps_its_values_after_an_error(home):
    at = _app()
    at.text_input(key="compute_edit_local_memory").set_value("lots")
    at.number_input(key="compute_edit_local_cpus").set_value(3.0)
    at.tabs[1].button[0].click().run()
    message = _errors(at)
    assert "**Memory** 'lots' is not a size" in message and "--" not in message
    assert at.text_input(key="compute_edit_local_memory").value == "lots"
    assert at.number_input(key="compute_edit_local_cpus").value == 3.0
    at.text_input(key="compute_edit_local_memory").set_value("2GB")
    at.tabs[1].button[0].click().run()
    assert any("Updated compute target 'local'" in s.value for s in at.success)
    assert at.dataframe[0].value.set_index("name").loc["local", "CPUs"] == 3.0


def test_the_service_error_is_structured_and_the_cli_names_its_options(home):
    ws = open_workspace(home)
    try:
        with pytest.raises(ComputeInputError) as caught:
            add_compute(ws, "x", gpus=-1.0, memory="8XB", resources={"GPU": 1.0})
    finally:
        ws.registry.close()
    error = caught.value
    assert error.fields == ("gpus", "memory", "resources")
    assert str(error) == error.phrase(CLI_OPTIONS)
    assert "--gpus -1.0 must be a number ≥ 0" in str(error)
    assert "--memory '8XB' is not a size" in str(error)
    assert "--resource: 'GPU' is reserved: use --cpus, --gpus or --memory instead" in str(error)
    labels = {"gpus": "GPUs", "memory": "Memory"}
    assert "Memory '8XB' is not a size" in error.phrase(labels) and "--memory" not in error.phrase(labels)
    assert check_compute_fields("ok", cpus=1.0, memory="8GB", resources={"highmem": 1.0}) == []
