"""docs/definitions.md has a complete, valid example for every built-in activity type (and
every other JSON example on the page validates too)."""

import json
import re
from pathlib import Path

import pytest

from runtime.activities import register_builtins
from runtime.engine import ActivityRegistry, compile_definition

DOC = Path(__file__).resolve().parents[3] / "docs" / "definitions.md"
SECTION = re.compile(r"^### (\S+)\n(.*?)(?=^### |^## |\Z)", re.S | re.M)
JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.S)


def _registry() -> ActivityRegistry:
    registry = ActivityRegistry()
    register_builtins(registry)
    return registry


def _types_in(node, found: set) -> set:
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            found.add(node["type"])
        for value in node.values():
            _types_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _types_in(value, found)
    return found


def _sections() -> dict[str, str]:
    return {name: body for name, body in SECTION.findall(DOC.read_text())}


@pytest.mark.parametrize("type_name", _registry().known_types())
def test_every_built_in_type_has_an_example_that_validates(type_name):
    sections = _sections()
    assert type_name in sections, f"docs/definitions.md has no '### {type_name}' section"
    blocks = JSON_BLOCK.findall(sections[type_name])
    assert blocks, f"the {type_name} section has no JSON example"
    body = json.loads(blocks[0])
    plan = compile_definition(body, _registry())
    assert type_name in _types_in(body["root"], set())
    assert plan.nodes  # compiled


def test_every_other_example_on_the_page_validates():
    import examples.activities  # noqa: F401  (registers examples.charge in the default registry)
    from runtime.activities import default_registry

    for block in JSON_BLOCK.findall(DOC.read_text()):
        body = json.loads(block)
        compile_definition(body, default_registry())
