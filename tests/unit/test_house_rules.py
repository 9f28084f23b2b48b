"""House rules that a linter does not check: no import hidden inside a function or class in
`workflows/services/` (an import there would hide a dependency that the layer contracts in
pyproject.toml cannot see, which is how import cycles survive)."""

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "workflows" / "services"

# module path -> reason; a nested import needs a written reason here to be allowed.
ALLOWED_NESTED_IMPORTS: dict[str, str] = {}


def nested_imports(source: str) -> list[tuple[int, str]]:
    """(line, statement) of every import that is not at a module's top level."""
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level:
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_rule_sees_an_import_inside_a_function():
    source = "import os\n\ndef f():\n    from json import dumps\n    return dumps\n"
    assert nested_imports(source) == [(4, "from json import dumps")]


def test_the_rule_sees_an_import_inside_a_class_or_a_condition():
    source = "class A:\n    import json\n\nif True:\n    import re\n"
    assert [line for line, _ in nested_imports(source)] == [2, 5]


def test_services_have_no_function_local_imports():
    offenders = []
    for path in sorted(SERVICES.rglob("*.py")):
        relative = str(path.relative_to(SERVICES.parents[1]))
        if relative in ALLOWED_NESTED_IMPORTS:
            continue
        offenders += [f"{relative}:{line}: {statement}"
                      for line, statement in nested_imports(path.read_text())]
    assert offenders == [], "imports inside functions in workflows/services:\n" + "\n".join(
        offenders)
