"""Issue 25, defect 8 (kernel side): what the forms say agrees with what works. The
Scheduler help names every scheduler of the menu (it is generated from the registry); an
example shown as a placeholder is accepted when typed into that field as the form sends
it; a new profile starts from the same values in the ipywidgets form as in the panel (the
schema's defaults, no name)."""

from __future__ import annotations

import dataclasses

import pytest

from clusterlab.common import kinds as registry
from clusterlab.config.profile import Profile, schema


def _field(name: str) -> dict:
    (spec,) = [s for s in schema() if s["name"] == name]
    return spec


def test_scheduler_help_names_every_scheduler_of_the_menu() -> None:
    spec = _field("scheduler")
    assert spec["choices"] == list(registry.names())
    for kind in registry.kinds().values():
        assert f"'{kind.name}'" in spec["tooltip"], kind.name
        assert kind.label in spec["tooltip"], kind.label


@pytest.mark.parametrize("name", ["env", "setup", "host", "python", "workdir"])
def test_a_placeholder_example_is_accepted_as_typed(name: str) -> None:
    """The form sends what is typed as text (lines for env and setup)."""
    spec = _field(name)
    assert spec["example"], f"{name} has no example to show"

    (f,) = [f for f in dataclasses.fields(Profile) if f.name == name]
    check = f.metadata["check"]
    check(spec["example"])  # raises (with the sentence a user would see) if the example is wrong


def test_new_profile_starts_alike_in_the_widget_and_the_panel() -> None:
    from clusterlab.ui.widgets import ConfigForm

    form = ConfigForm()
    values = form.values()
    defaults = {s["name"]: s["default"] for s in schema()}
    # The panel's "New profile" (labextension/src/form.ts newProfileValues): the
    # schema's defaults with an empty name.
    assert values["name"] == ""
    assert values["scheduler"] == defaults["scheduler"]
    assert form.fields["name"].error.value == ""  # not called wrong before Save
    form.save()
    assert "clusterlab-error" in form.fields["name"].error.value  # Save says so
