"""Delivery: each new version pushed to its subscribers, as files in a folder or an
S3-compatible bucket (manifest last) or as a signed webhook event.

The subscription and delivery rows live in the catalog (:mod:`catalog.subscriptions`); this
package does the delivering: :mod:`delivery.content` makes the files, :mod:`delivery.targets`
writes them, :mod:`delivery.webhooks` signs and posts events, :mod:`delivery.run` runs what is
pending. See ``docs/delivery.md``.
"""
