from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from runtime.engine.secrets import install_secret_source
        from workflows.discovery import discover_activities
        from workflows.services.secrets import DatabaseSecretSource
        from workflows.tracing import tracing_configure_at_start

        discover_activities()
        install_secret_source(DatabaseSecretSource())
        # Before the web's middleware loads: Django's instrumentation adds its own. A Celery
        # worker sets traces up later, after its pool forks (config/celery.py).
        tracing_configure_at_start()
