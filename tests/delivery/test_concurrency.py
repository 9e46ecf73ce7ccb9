"""Two deliverers at once (two `harvest deliver` processes): each version is delivered once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from catalog import Catalog
from catalog.subscriptions import Subscription, Subscriptions
from tests.delivery.conftest import Receiver, products


def test_two_deliverers_deliver_each_version_once(
    shop: Catalog, receiver: Callable[..., Receiver], tmp_path: Path
) -> None:
    got = receiver(delay=0.2)  # slow enough that the two runs overlap
    subs = Subscriptions(shop)
    subs.add(Subscription("hook", "raw.shop", got.url))
    subs.add(Subscription("drop", "raw.shop", str(tmp_path / "out"), mode="delta"))
    shop.commit("raw.shop", products(2), producer="test")
    shop.commit("raw.shop", products(1), producer="test")  # back again: version 3
    command = [sys.executable, "-m", "harvest", "--home", str(shop.workspace.home), "deliver"]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=240) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    said = b"".join(out for out, _ in outputs).decode()
    assert sorted(line.split(" (")[0] for line in said.splitlines() if line.startswith("delivered")) == [
        f"delivered: raw.shop@{n} to {s}" for n in (1, 2, 3) for s in ("drop", "hook")
    ]  # fmt: skip
    assert sorted(e["version"] for e in got.events()) == [1, 2, 3]  # type: ignore[type-var]
    rows = subs.deliveries()
    assert sorted((d.subscription, d.version, d.status) for d in rows) == [
        (s, n, "delivered") for s in ("drop", "hook") for n in (1, 2, 3)
    ]
    assert all((tmp_path / "out" / f"raw.shop/v{n}/_manifest.json").is_file() for n in (1, 2, 3))
