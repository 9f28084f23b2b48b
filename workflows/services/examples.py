"""The example definitions `make run` loads (examples/definitions/*.json)."""

import json
from pathlib import Path

from django.conf import settings

from workflows.models import Tenant, WorkflowDefinition
from workflows.services.definitions import definition_create, definition_publish

EXAMPLES_DIR = Path(settings.BASE_DIR) / "examples" / "definitions"


def examples_load(*, tenant: Tenant, user) -> list[str]:
    """Create and publish each example the tenant does not have yet."""
    loaded = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        body = json.loads(path.read_text())
        exists = WorkflowDefinition.objects.filter(tenant=tenant,
                                                   definition_id=body["definition_id"]).exists()
        if not exists:
            definition_create(tenant=tenant, user=user, body=body)
            definition_publish(tenant=tenant, user=user, definition_id=body["definition_id"])
            loaded.append(body["definition_id"])
    return loaded
