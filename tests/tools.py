"""Finding external tools for tests: skip on a laptop with the install command, fail in CI."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, install: str) -> str:
    """Path of ``name``; outside CI a missing tool skips naming ``install``, under CI it fails."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found; install it with: {install}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)
