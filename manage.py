#!/usr/bin/env python
"""Django's command-line utility for Weft."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Management commands are a developer's tool: without SECRET_KEY they use the development
    # key. The processes that serve (gunicorn, celery) still refuse to start without one.
    os.environ.setdefault("WEFT_DEV", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
