"""Finds user activities: each installed app's `activities.py` (as Celery finds `tasks.py`)
and the modules named in `WEFT_ACTIVITY_MODULES`. Importing a module runs its `@activity`
decorators, which register the functions in the default registry."""

import importlib
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings


def discover_activities() -> list[str]:
    loaded = []
    for app_config in apps.get_app_configs():
        module = f"{app_config.name}.activities"
        if find_spec(module) is not None:
            importlib.import_module(module)
            loaded.append(module)
    for module in settings.WEFT_ACTIVITY_MODULES:
        importlib.import_module(module)
        loaded.append(module)
    return loaded
