"""Where a workspace's files live: model versions (artifacts, cards, plots), media and landing parts.

One small interface, :class:`FileStore`, with two implementations chosen by the settings,
never by the code that writes: :class:`LocalFolder` (the default, ``HARVEST_HOME`` itself,
so ``models/m/3`` is the folder ``$HARVEST_HOME/models/m/3``) and :class:`S3Bucket`, used
when the data path is on S3. Files then go to ``HARVEST_FILES_PATH`` (default: beside the
data path, ``s3://bucket/prefix-files/``; never inside it, where vacuum deletes what
DuckLake does not know), with the same ``HARVEST_S3_*`` endpoint, region, keys and URL
style as the catalog's data.

Immutable folders (a model version) are stored content-addressed: each file once under
``blobs/<sha256>``, and a manifest ``<key>.json`` naming them, written last, so a folder is
either complete in the store or absent. :func:`put_folder` and :func:`get_folder` move one
between a machine's local folder and the store; on a local store both are no-ops.

Keys never appear in a message: a failure is one sentence naming the object and the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from core.errors import HarvestError, NotFoundError
from core.workspace import S3_SETTINGS, Workspace

BLOBS = "blobs"
MEDIA = "media"  # crawled images and files: media/images/<sha1>.jpg, media/files/<sha1><ext>
MANIFEST_SUFFIX = ".json"
_CHUNK = 1 << 20
S3_SCHEMES = ("s3", "s3a", "r2")


class FileStoreError(HarvestError):
    """The file store could not be read or written."""


class FileStore(Protocol):
    """Keys (``/``-separated, relative) to bytes, in a folder or a bucket."""

    def where(self, key: str) -> str:
        """The object's address, for messages (never a key or secret)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """Where ``key`` lives on this machine, when the store is a local folder."""
        ...

    def write(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes:
        """The object's bytes; :class:`NotFoundError` when there is none."""
        ...

    def upload(self, key: str, source: Path) -> None: ...

    def download(self, key: str, target: Path) -> None:
        """Write the object to ``target``; :class:`NotFoundError` when there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder: ``models/m/``), sorted."""
        ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class LocalFolder:
    """A folder on this machine (the workspace's home by default)."""

    root: Path

    def where(self, key: str) -> str:
        return str(self.root / key)

    def local_path(self, key: str) -> Path | None:
        return self.root / key

    def write(self, key: str, data: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
        partial.write_bytes(data)
        os.replace(partial, target)

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"There is no file {self.where(key)}.") from None

    def upload(self, key: str, source: Path) -> None:
        target = self.root / key
        if target != source:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    def download(self, key: str, target: Path) -> None:
        if not (self.root / key).is_file():
            raise NotFoundError(f"There is no file {self.where(key)}.")
        if target != self.root / key:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.root / key, target)

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


@dataclass(frozen=True)
class S3Bucket:
    """A prefix of an S3 bucket, reached with boto3 and the ``HARVEST_S3_*`` settings."""

    bucket: str
    prefix: str  # "" or ending in "/"
    client: Any = field(repr=False, compare=False)
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def local_path(self, key: str) -> Path | None:
        return None

    def write(self, key: str, data: bytes) -> None:
        self._call("write", key, self.client.put_object, Key=self.prefix + key, Body=data)

    def read(self, key: str) -> bytes:
        body = self._call("read", key, self.client.get_object, Key=self.prefix + key)["Body"]
        return bytes(body.read())

    def upload(self, key: str, source: Path) -> None:
        with source.open("rb") as data:
            self._call("write", key, self.client.put_object, Key=self.prefix + key, Body=data)

    def download(self, key: str, target: Path) -> None:
        body = self._call("read", key, self.client.get_object, Key=self.prefix + key)["Body"]
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in iter(lambda: body.read(_CHUNK), b""):
                out.write(chunk)

    def exists(self, key: str) -> bool:
        try:
            self._call("read", key, self.client.head_object, Key=self.prefix + key)
        except NotFoundError:
            return False
        return True

    def stamp(self, key: str) -> tuple[int, str] | None:
        """The size and ETag of ``key``, or None when there is none (see :func:`object_stamp`)."""
        try:
            head = self._call("read", key, self.client.head_object, Key=self.prefix + key)
        except NotFoundError:
            return None
        return int(head["ContentLength"]), str(head["ETag"]).strip('"')

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        found: list[str] = []
        try:
            for page in pages:
                found += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        except Exception as error:  # botocore's errors have no common base worth naming
            raise self._error("list", prefix, error) from None
        return sorted(found)

    def delete(self, key: str) -> None:
        self._call("delete", key, self.client.delete_object, Key=self.prefix + key)

    def _call(self, verb: str, key: str, method: Any, **arguments: Any) -> Any:
        try:
            return method(Bucket=self.bucket, **arguments)
        except Exception as error:  # botocore's errors have no common base worth naming
            code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise NotFoundError(f"There is no file {self.where(key)}.") from None
            raise self._error(verb, key, error) from None

    def _error(self, verb: str, key: str, error: Exception) -> FileStoreError:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        for secret in self.secrets:
            reason = reason.replace(secret, "…")
        return FileStoreError(f"Could not {verb} {self.where(key)}: {reason}")


def files_path(workspace: Workspace, environ: Mapping[str, str] = os.environ) -> str | None:
    """Where the workspace's files go in object storage, or None: its home folder."""
    if given := environ.get("HARVEST_FILES_PATH"):
        return given.rstrip("/") + "/"
    if not workspace.remote:
        return None
    scheme, _, rest = workspace.data_path.partition("://")
    bucket, _, prefix = rest.strip("/").partition("/")
    if not prefix:
        raise FileStoreError(
            f"The data path {workspace.data_path} is a whole bucket, so files cannot go beside "
            "it: set HARVEST_FILES_PATH (s3://bucket/prefix/) to say where they go."
        )
    return f"{scheme}://{bucket}/{prefix}-files/"


def file_store(workspace: Workspace, environ: Mapping[str, str] = os.environ) -> FileStore:
    """The workspace's file store: its home folder, or S3 when the data path is there."""
    path = files_path(workspace, environ)
    if path is None:
        return LocalFolder(workspace.home)
    return s3_bucket(path, environ)


def s3_bucket(url: str, environ: Mapping[str, str] = os.environ) -> S3Bucket:
    """The bucket and prefix of ``url`` (``s3://bucket/prefix/``), reached with the
    ``HARVEST_S3_*`` settings of ``environ``."""
    scheme, _, rest = url.partition("://")
    if scheme not in S3_SCHEMES:
        raise FileStoreError(
            f"Files cannot be kept at {url}: only S3 (s3://bucket/prefix/) is supported."
        )
    bucket, _, prefix = rest.partition("/")
    settings = tuple((name, environ.get(variable, "")) for name, variable in S3_SETTINGS.items())
    given = dict(settings)
    return S3Bucket(
        bucket,
        prefix,
        _s3_client(settings),
        tuple(s for s in (given["KEY_ID"], given["SECRET"], given["SESSION_TOKEN"]) if s),
    )


def on_s3(url: str) -> bool:
    """Whether ``url`` names a place in S3 (or an S3-compatible store)."""
    return url.partition("://")[0] in S3_SCHEMES


def object_stamp(url: str, environ: Mapping[str, str] = os.environ) -> tuple[int, str] | None:
    """The size and ETag of the S3 object at ``url`` (one HEAD request), or None when there
    is none. The server derives the ETag from the object's content (an MD5 for a single
    upload, a digest of the parts' MD5s for a multipart one), so rewriting it changes it."""
    scheme, _, rest = url.partition("://")
    bucket, _, key = rest.partition("/")
    return s3_bucket(f"{scheme}://{bucket}/", environ).stamp(key)


@cache
def _s3_client(settings: tuple[tuple[str, str], ...]) -> Any:
    """A boto3 S3 client for these settings (one per process and settings)."""
    import boto3
    from botocore.config import Config

    given = dict(settings)
    endpoint = given["ENDPOINT"]
    if endpoint and "://" not in endpoint:
        secure = given["USE_SSL"].lower() not in ("0", "false", "no", "off")
        endpoint = f"{'https' if secure else 'http'}://{endpoint}"
    style = "path" if given["URL_STYLE"].lower() == "path" else "virtual"
    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=given["REGION"] or None,
        aws_access_key_id=given["KEY_ID"] or None,
        aws_secret_access_key=given["SECRET"] or None,
        aws_session_token=given["SESSION_TOKEN"] or None,
        config=Config(
            s3={"addressing_style": style},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def mark_used(path: Path) -> None:
    """Record that ``path``, a copy of something in the store, was just used (its
    modification time: access times are often not kept), so pruning keeps it longest."""
    with contextlib.suppress(OSError):  # gone, or not ours to touch: nothing to remember
        os.utime(path)


def get_files(store: FileStore, keys: list[str], root: Path) -> int:
    """Download each of ``keys`` that ``root`` lacks to ``root/<key>`` (nothing on a local
    store); returns how many were downloaded."""
    fetched = 0
    for key in keys:
        target = root / key
        if store.local_path(key) == target:
            continue
        if target.exists():
            mark_used(target)
            continue
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            store.download(key, partial)
            os.replace(partial, target)
            fetched += 1
        finally:
            partial.unlink(missing_ok=True)
    return fetched


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _blob(digest: str) -> str:
    return f"{BLOBS}/{digest[:2]}/{digest}"


def put_folder(store: FileStore, folder: Path, key: str) -> None:
    """Store ``folder``'s files under ``key``: each file once by content, the manifest last.

    On a local store whose ``key`` is ``folder`` itself there is nothing to do.
    """
    if store.local_path(key) == folder:
        return
    manifest = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = sha256_of(path)
        if not store.exists(_blob(digest)):
            store.upload(_blob(digest), path)
        manifest[path.relative_to(folder).as_posix()] = digest
    store.write(key + MANIFEST_SUFFIX, json.dumps(manifest, indent=1).encode())


def get_folder(store: FileStore, key: str, folder: Path) -> Path:
    """``folder``, filled from the store's ``key`` first if it is not on this machine.

    Files are written to a staging folder beside it, checked against their digests and
    renamed into place together, so a fetch cut short leaves nothing behind.
    """
    if store.local_path(key) == folder:
        return folder
    if folder.is_dir():
        mark_used(folder)
        return folder
    try:
        manifest = json.loads(store.read(key + MANIFEST_SUFFIX))
    except NotFoundError:
        raise NotFoundError(
            f"{store.where(key)} is not in the file store; the machine that wrote it did not "
            "share it (its data path was not on S3?)."
        ) from None
    staging = folder.with_name(f".fetch-{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        for name, digest in manifest.items():
            target = staging / name
            store.download(_blob(digest), target)
            if sha256_of(target) != digest:
                raise FileStoreError(
                    f"{store.where(_blob(digest))} does not hold what {name} held."
                )
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, folder)
        except OSError:  # fetched at the same time by another process: theirs is as good
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
