"""Processes Harvest starts and follows from other processes: their ids and whether they live."""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path


def new_job_id(name: str) -> str:
    """``<name>-<UTC time>-<random>``: sortable, unique, safe in a path and a URL (a training
    job's id is its run id)."""
    safe = re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-.")[:80] or "job"
    return f"{safe}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def process_alive(pid: int) -> bool:
    """Is process ``pid`` running (not gone, not a zombie)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie has exited
        fields = stat.read_text().rsplit(")", 1)[-1].split()
        return not fields or fields[0] != "Z"
    return True
