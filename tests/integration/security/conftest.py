from tests.integration.execution.conftest import operator, publish  # noqa: F401
