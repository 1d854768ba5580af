"""Finding external tools for tests: skip on a laptop with the install command, fail in CI."""

from __future__ import annotations

import importlib
import os
import shutil

import pytest


def missing(message: str) -> None:
    """Skip naming the install command; under CI (``CI=true``) fail instead."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def require_module(name: str, install: str) -> None:
    """Import ``name`` or, when it is missing, skip (fail under CI) naming ``install``."""
    try:
        importlib.import_module(name)
    except ImportError:
        missing(f"{name} not installed; install it with: {install}")


def require_tool(name: str, install: str) -> str:
    """Path of ``name``; outside CI a missing tool skips naming ``install``, under CI it fails."""
    path = shutil.which(name)
    if path:
        return path
    missing(f"{name} not found; install it with: {install}")
    raise AssertionError("unreachable: missing() skips or fails")
