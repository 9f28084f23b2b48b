from tests.e2e.support.fixtures import local_sqs  # noqa: F401
