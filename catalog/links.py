"""Download links that expire: a version's download URL signed with the workspace's link key,
which the API accepts without a token until the time it names (what a webhook event carries).

The key is a random secret in the workspace (``.link-key``, readable by its owner only); the
signature is an HMAC-SHA256 of the path and the expiry time, so a link cannot be stretched to
another version, another dataset or a later time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from core.workspace import Workspace


def _key(workspace: Workspace) -> bytes:
    file = workspace.home / ".link-key"
    if not file.exists():
        made = secrets.token_hex(32).encode()
        try:
            descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(made)
    return Path(file).read_bytes().strip()


def download_path(dataset: str, version: int) -> str:
    return f"/v1/datasets/{dataset}/versions/{version}/download"


def signature(workspace: Workspace, path: str, expires: int) -> str:
    return hmac.new(_key(workspace), f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_download(
    workspace: Workspace, base_url: str, dataset: str, version: int, lifetime_s: float
) -> tuple[str, int]:
    """A link to download ``dataset@version`` through the API, and when it stops working."""
    path = download_path(dataset, version)
    expires = int(time.time() + lifetime_s)
    url = f"{base_url.rstrip('/')}{path}?expires={expires}&signature={signature(workspace, path, expires)}"
    return url, expires


def link_allows(workspace: Workspace, path: str, expires: int, given: str) -> bool:
    """Whether ``given`` signs ``path`` until ``expires`` and that time has not passed."""
    if expires < time.time():
        return False
    # as bytes: compare_digest refuses str with non-ASCII characters, which anyone can send
    return hmac.compare_digest(signature(workspace, path, expires).encode(), given.encode())
