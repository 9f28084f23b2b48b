from django.apps import AppConfig


class ExamplesConfig(AppConfig):
    """Example user activities, loaded like any app's `activities.py` (shown by `make run`)."""

    name = "examples"
    verbose_name = "Weft examples"
