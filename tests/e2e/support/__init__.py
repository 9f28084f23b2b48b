"""Helpers and fixtures for tests that run real processes: a local SQS server (moto), the
environment for worker subprocesses, a flaky reverse proxy and Celery worker processes.

Use the fixtures by importing them into a conftest.py:
`from tests.e2e.support.fixtures import local_sqs  # noqa: F401`.
"""
