"""The dataset page's Deliveries tab: the Subscribe control adds a subscription, and the
deliveries made for it are listed."""

from __future__ import annotations

from pathlib import Path

from catalog import Catalog
from catalog.subscriptions import Subscriptions
from delivery.run import deliver_pending
from tests.dashboard.test_pages import MakeApp, ran, texts
from tests.delivery.conftest import products, settings


def test_subscribe_then_see_the_delivery(app: MakeApp, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Catalog.open(home) as catalog:
        catalog.commit("raw.shop", products(1), producer="test", key=["id"])
    at = app(home, "dataset")
    at.query_params["name"] = "raw.shop"
    ran(at)
    assert "No deliveries yet" in texts(at)
    at.text_input[0].set_value(str(tmp_path / "drop"))
    at.button[0].click()
    ran(at)
    assert "Subscribed admin-raw-shop: from version 1 on." in texts(at)
    with Catalog.open(home) as catalog:
        [sub] = Subscriptions(catalog).subscriptions()
        assert (sub.dataset, sub.target, sub.format) == (
            "raw.shop",
            str(tmp_path / "drop"),
            "parquet",
        )
        deliver_pending(catalog, settings=settings())
    ran(at)
    delivered = at.dataframe[-1].value
    assert list(delivered["version"]) == ["raw.shop@1"]
    assert list(delivered["status"]) == ["delivered"]
    assert (tmp_path / "drop/raw.shop/v1/_manifest.json").is_file()
