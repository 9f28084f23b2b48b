import json

import pytest

from runtime.activities import BUILTIN_TYPES, default_registry, register_builtins
from runtime.engine import ActivityRegistry

SPEC_TYPES = {
    "composition": {"Sequence", "Flowchart", "If", "Switch", "While", "For", "ForEach",
                    "ParallelForEach", "Fork", "Join", "Break"},
    "primitives": {"SetVariable", "SetOutput", "WriteLine", "Correlate", "Finish", "Fault"},
    "timing": {"Delay", "Timer", "Cron", "StartAt"},
    "events": {"Event", "PublishEvent"},
    "http": {"HttpEndpoint", "WriteHttpResponse", "SendHttpRequest"},
    "children": {"ExecuteWorkflow"},
}


def _descriptors():
    registry = ActivityRegistry()
    register_builtins(registry)
    return {d["type"]: d for d in registry.descriptors()}


def test_every_spec_type_is_registered_in_its_family():
    descriptors = _descriptors()
    for family, names in SPEC_TYPES.items():
        assert {n for n, d in descriptors.items() if d["family"] == family} == names


def test_descriptors_are_json_with_the_documented_keys():
    for descriptor in _descriptors().values():
        json.dumps(descriptor)
        assert set(descriptor) >= {"type", "family", "kind", "trigger", "properties",
                                   "outcomes", "description"}
        assert descriptor["kind"] in ("inline", "task", "blocking")
        assert descriptor["description"]
        for prop in descriptor["properties"]:
            assert set(prop) >= {"name", "type", "required", "description", "default"}


def test_only_the_spec_trigger_types_can_trigger():
    triggers = {n for n, d in _descriptors().items() if d["trigger"]}
    assert triggers == {"Event", "HttpEndpoint", "Cron", "Timer", "StartAt"}


def test_task_kind_is_send_http_request_and_waits_are_blocking():
    kinds = {n: d["kind"] for n, d in _descriptors().items()}
    assert kinds["SendHttpRequest"] == "task"
    assert {n for n, k in kinds.items() if k == "blocking"} == {
        "Delay", "Timer", "Cron", "StartAt", "Event", "HttpEndpoint", "ExecuteWorkflow"}


@pytest.mark.parametrize(("type_name", "outcomes"), [
    ("If", ["true", "false"]),
    ("SendHttpRequest", ["200", "failed"]),
    ("WriteLine", ["done"]),
    ("Switch", ["default", "done"]),
])
def test_descriptor_outcomes(type_name, outcomes):
    assert _descriptors()[type_name]["outcomes"] == outcomes


def test_required_properties_match_the_spec():
    descriptors = _descriptors()

    def required(name):
        return {p["name"] for p in descriptors[name]["properties"] if p["required"]}

    assert required("If") == {"condition"}
    assert required("SetVariable") == {"variable"}
    assert required("Cron") == {"cron"}
    assert required("SendHttpRequest") == {"url"}
    assert required("ExecuteWorkflow") == {"definition_id"}


def test_registry_lists_known_types_sorted_and_refuses_duplicates():
    registry = ActivityRegistry()
    register_builtins(registry)
    assert registry.known_types() == sorted(t.type_name for t in BUILTIN_TYPES)
    with pytest.raises(Exception, match="built-in"):
        register_builtins(registry)


def test_default_registry_is_one_shared_instance_with_the_builtins():
    assert default_registry() is default_registry()
    assert "Flowchart" in default_registry()
    assert default_registry().is_builtin("Flowchart")
