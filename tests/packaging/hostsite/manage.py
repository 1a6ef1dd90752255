#!/usr/bin/env python
"""A host site that adds calling to itself (tests/packaging): its own settings, users and URLs."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
