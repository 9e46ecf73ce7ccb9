"""Where a delivery's files go: a folder, or an S3-compatible bucket.

Nothing partial is ever visible. In a folder each file is written to a hidden temporary name
and renamed when whole; in a bucket each file is a multipart upload, completed only after its
last part. The manifest goes last either way, so a reader that waits for ``_manifest.json``
never sees half a delivery. A delivery cut short (a killed process) leaves no manifest; the
next attempt clears what it left and delivers the version whole.

An S3 target's endpoint and keys come from the workspace settings under the secret's name:
``HARVEST_SECRET_<NAME>_ENDPOINT``, ``_KEY_ID``, ``_SECRET`` and optionally ``_REGION`` and
``_USE_SSL``; a subscription row names the secret, never the keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from catalog.subscriptions import s3_location
from core.errors import HarvestError, InvalidInputError

PART_BYTES = 8 << 20  # an S3 upload part (S3 needs at least 5 MiB but for the last)
_UPLOADERS = 10  # parts of one file uploaded at once (as boto3 upload_file)
_CLIENTS: dict[tuple[str, str, str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


class DeliveryError(HarvestError):
    """A target refused or failed a delivery."""


class Target(Protocol):
    """A place a delivery's files are written to, the manifest last."""

    @property
    def where(self) -> str:
        """The target as the subscription names it."""

    def check(self) -> None:
        """Fail with one sentence if the target cannot be written at all (before any file)."""

    def manifest(self, folder: str) -> bytes | None:
        """The manifest already at ``folder``, if any."""

    def clear(self, folder: str) -> None:
        """Remove what an earlier, unfinished delivery left at ``folder``."""

    def put(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Write one whole file; its size and SHA-256."""

    def finish(self, folder: str, manifest: bytes) -> None:
        """Write the manifest, which makes the delivery visible."""


def open_target(target: str, secret: str | None, environ: Mapping[str, str]) -> Target:
    """The folder or bucket ``target`` names (an S3 one with the keys of ``secret``)."""
    if target.startswith("s3://"):
        return S3Target(target, secret_settings(secret or "", environ))
    return FolderTarget(Path(target).expanduser())


# -------------------------------------------------------------------------------- a folder


@dataclass
class FolderTarget:
    root: Path

    @property
    def where(self) -> str:
        return str(self.root)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DeliveryError(
                f"Cannot write to the folder '{self.root}': {error.strerror or error}."
            ) from error

    def manifest(self, folder: str) -> bytes | None:
        file = self.root / folder / "_manifest.json"
        return file.read_bytes() if file.is_file() else None

    def clear(self, folder: str) -> None:
        shutil.rmtree(self.root / folder, ignore_errors=True)

    def put(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        final = self.root / key
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(f".{final.name}.partial")
        digest, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return size, digest.hexdigest()

    def finish(self, folder: str, manifest: bytes) -> None:
        self.put(f"{folder}_manifest.json", [manifest])


# -------------------------------------------------------------------------------- a bucket


@dataclass(frozen=True)
class S3Settings:
    """A named secret's endpoint, keys and region (the keys never show in a repr)."""

    name: str
    endpoint: str
    key_id: str = field(repr=False)
    secret: str = field(repr=False)
    region: str = "us-east-1"


def secret_settings(name: str, environ: Mapping[str, str]) -> S3Settings:
    """The settings ``HARVEST_SECRET_<NAME>_*`` of secret ``name``."""
    prefix = f"HARVEST_SECRET_{name.upper()}_"
    missing = [k for k in ("ENDPOINT", "KEY_ID", "SECRET") if not environ.get(prefix + k)]
    if missing:
        raise InvalidInputError(
            f"The secret '{name}' is not set: set {', '.join(prefix + k for k in missing)} "
            "in the workspace's settings."
        )
    endpoint = environ[prefix + "ENDPOINT"]
    if "://" not in endpoint:
        ssl = environ.get(prefix + "USE_SSL", "true").lower() not in ("false", "0", "no")
        endpoint = f"{'https' if ssl else 'http'}://{endpoint}"
    return S3Settings(
        name=name,
        endpoint=endpoint,
        key_id=environ[prefix + "KEY_ID"],
        secret=environ[prefix + "SECRET"],
        region=environ.get(prefix + "REGION", "us-east-1"),
    )


class S3Target:
    """``s3://bucket/prefix`` on an S3-compatible server, through boto3."""

    def __init__(self, target: str, settings: S3Settings) -> None:
        self._where = target
        self.bucket, self.prefix = s3_location(target)
        self.settings = settings
        self.client = _client(settings)

    @property
    def where(self) -> str:
        return self._where

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        """One S3 call; its failure as one sentence (the keys never appear in it)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403") or (
                status == 403
            ):
                raise DeliveryError(
                    f"The S3 server at {self.settings.endpoint} refused the keys of secret "
                    f"'{self.settings.name}' ({code or status}) while trying to {what} in "
                    f"{self.where}: check HARVEST_SECRET_{self.settings.name.upper()}_KEY_ID and "
                    "_SECRET."
                ) from None
            if code in ("NoSuchBucket", "404") and what == "reach the bucket":
                raise DeliveryError(
                    f"There is no bucket '{self.bucket}' at {self.settings.endpoint}."
                ) from None
            raise DeliveryError(
                f"The S3 server at {self.settings.endpoint} could not {what} in {self.where}: "
                f"{code or status}."
            ) from None
        except BotoCoreError as error:
            raise DeliveryError(
                f"Could not reach the S3 server at {self.settings.endpoint} to {what}: {error}."
            ) from None

    def check(self) -> None:
        self._call("reach the bucket", self.client.head_bucket, Bucket=self.bucket)

    def manifest(self, folder: str) -> bytes | None:
        from botocore.exceptions import ClientError

        key = f"{self.prefix}{folder}_manifest.json"
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            # anything else: the same call again, failing as one sentence
            found = self._call("read the manifest", self.client.get_object, Bucket=self.bucket,
                               Key=key)  # fmt: skip
        return bytes(found["Body"].read())

    def clear(self, folder: str) -> None:
        """Abort unfinished uploads and delete files an unfinished delivery left."""
        prefix = f"{self.prefix}{folder}"
        try:
            uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        except Exception:  # not every S3-compatible server lists uploads; they expire anyway
            uploads = {}
        for upload in uploads.get("Uploads", []):
            self._call("abort an unfinished upload", self.client.abort_multipart_upload,
                       Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])  # fmt: skip
        listed = self._call("list files", self.client.list_objects_v2, Bucket=self.bucket,
                            Prefix=prefix)  # fmt: skip
        for item in listed.get("Contents", []):
            self._call("delete a partial file", self.client.delete_object, Bucket=self.bucket,
                       Key=item["Key"])  # fmt: skip

    def put(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        full = f"{self.prefix}{key}"
        started = self._call("start an upload", self.client.create_multipart_upload,
                             Bucket=self.bucket, Key=full)  # fmt: skip
        upload = started["UploadId"]
        digest, size, parts = hashlib.sha256(), 0, []
        try:
            with ThreadPoolExecutor(max_workers=_UPLOADERS) as pool:
                sending: list[Future[Any]] = []
                for number, body in enumerate(_parts(chunks, PART_BYTES), start=1):
                    digest.update(body)
                    size += len(body)
                    sending.append(pool.submit(self._call, "upload a part", self.client.upload_part,
                                               Bucket=self.bucket, Key=full, PartNumber=number,
                                               UploadId=upload, Body=body))  # fmt: skip
                    if len([f for f in sending if not f.done()]) >= _UPLOADERS:
                        wait(sending, return_when=FIRST_COMPLETED)  # at most a few parts held
                parts = [{"PartNumber": n, "ETag": f.result()["ETag"]}
                         for n, f in enumerate(sending, start=1)]  # fmt: skip
            if not parts:  # an empty file is one empty part
                sent = self._call("upload a part", self.client.upload_part, Bucket=self.bucket,
                                  Key=full, PartNumber=1, UploadId=upload, Body=b"")  # fmt: skip
                parts.append({"PartNumber": 1, "ETag": sent["ETag"]})
            self._call("complete an upload", self.client.complete_multipart_upload,
                       Bucket=self.bucket, Key=full, UploadId=upload,
                       MultipartUpload={"Parts": parts})  # fmt: skip
        except BaseException:
            with contextlib.suppress(Exception):  # else the next delivery's clear() aborts it
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload)
            raise
        return size, digest.hexdigest()

    def finish(self, folder: str, manifest: bytes) -> None:
        self._call("write the manifest", self.client.put_object, Bucket=self.bucket,
                   Key=f"{self.prefix}{folder}_manifest.json", Body=manifest,
                   ContentType="application/json")  # fmt: skip


def _client(settings: S3Settings) -> Any:
    """A boto3 client for ``settings``, made once per process (making one takes 0.1 s)."""
    import boto3
    from botocore.config import Config

    key = (settings.endpoint, settings.key_id, settings.secret, settings.region)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = boto3.client(
                "s3",
                endpoint_url=settings.endpoint,
                aws_access_key_id=settings.key_id,
                aws_secret_access_key=settings.secret,
                region_name=settings.region,
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=10,
                    read_timeout=60,
                    max_pool_connections=_UPLOADERS * 2,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        return _CLIENTS[key]


def _parts(chunks: Iterable[bytes], size: int) -> Iterable[bytes]:
    """``chunks`` regrouped into pieces of ``size`` bytes (the last may be smaller)."""
    held: list[bytes] = []
    count = 0
    for chunk in chunks:
        held.append(chunk)
        count += len(chunk)
        while count >= size:
            joined = b"".join(held)
            yield joined[:size]
            rest = joined[size:]
            held, count = ([rest] if rest else []), len(rest)
    if count:
        yield b"".join(held)
