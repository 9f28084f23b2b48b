"""Broker plumbing for Amazon SQS (or a local SQS-compatible server).

- `config`: Celery/kombu settings from environment variables (pure, no Django).
- `queues`: queue names, creation with dead-letter queues, dead-letter reading, message decoding.
- `local_server`: a moto server subprocess for `make run` and the tests.
- `kombu_guard`: keeps workers alive when SQS answers ReceiveMessage with a 5xx (kombu 5.7 bug).

See docs/sqs.md.
"""
