from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from workflows.discovery import discover_activities
        from workflows.tracing import tracing_configure

        discover_activities()
        # Before the web's middleware loads: Django's instrumentation adds its own.
        tracing_configure()
