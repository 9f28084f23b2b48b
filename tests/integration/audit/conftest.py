from tests.integration.execution.conftest import operator, publish  # noqa: F401  (fixtures)
from tests.integration.execution.test_operations_api import poisoned  # noqa: F401  (fixture)
