"""A definition's revision: what an editor read, so a save can tell if someone saved since.

A draft is updated in place (same version number), so the version alone cannot tell two saves
apart; the version and the moment of its last write together can.
"""

from workflows.models import WorkflowDefinition


def definition_revision(definition: WorkflowDefinition) -> str:
    return f"{definition.version}-{int(definition.updated_at.timestamp() * 1_000_000)}"
