"""Where an object store's bytes live: the few operations engine/objectstore.py needs, on keys
relative to the store's root (``trees/ab/ab….json``), in batches.

- ``s3://bucket/prefix``: obstore (Rust, ``object_store``): its client starts in ≈ 0.1 s where
  s3fs's (aiobotocore, aiohttp) took ≈ 1.2 s per CLI call here, which alone made a fully
  reused 100-step run on S3 1.8× the local one (bench/store.py); batches run concurrently on
  its own runtime. Endpoint, credentials and region: the standard ``AWS_*`` variables.
- any other URL — ``file://`` (a shared folder: atomic temp-file-and-rename writes) or any
  fsspec protocol that is installed (``gs://``, ``az://``, …): fsspec.

Missing objects raise ``FileNotFoundError`` in every backend.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any, Protocol

from components.errors import DuctworkError

__all__ = ["Backend", "StoreError", "open_backend"]


class StoreError(DuctworkError, OSError):
    """The store failed under an operation (it stopped answering, refused, timed out): an
    ``OSError`` for the code that commits and a ``DuctworkError`` (a clear message, no
    traceback) for the person who runs."""

_TMP = ".tmp-"
_CONCURRENCY = 32


class Backend(Protocol):
    url: str

    def read(self, key: str) -> bytes: ...
    def read_many(self, keys: list[str]) -> dict[str, bytes]: ...
    def write(self, key: str, data: bytes) -> None: ...
    def upload(self, pairs: list[tuple[str, str]]) -> None: ...
    def download(self, pairs: list[tuple[str, str]]) -> None: ...
    def delete(self, keys: Iterable[str]) -> None: ...
    def list(self, prefix: str) -> dict[str, tuple[int, float | None]]: ...
    def modified(self, key: str) -> float: ...
    def chunks(self, key: str) -> Iterator[bytes]: ...


def open_backend(url: str, env: Mapping[str, str] | None = None) -> Backend:
    """The backend of a store URL; for ``s3://`` the ``AWS_*`` of ``env`` win over this process's."""
    protocol = url.split("://", 1)[0]
    if protocol in ("s3", "s3a"):
        return ObstoreS3(url, {**os.environ, **(env or {})})
    return FsspecBackend(url)


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


class ObstoreS3:
    """An S3 bucket (and prefix) through obstore."""

    def __init__(self, url: str, env: Mapping[str, str]):
        from obstore.store import S3Store

        self.url = url
        rest = url.split("://", 1)[1]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise DuctworkError(f"'{url}' names no bucket; use s3://bucket/prefix")
        config: dict[str, Any] = {}
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        if endpoint:
            config["endpoint"] = endpoint
        for name, key in (("AWS_ACCESS_KEY_ID", "access_key_id"), ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
                          ("AWS_SESSION_TOKEN", "session_token")):
            if env.get(name):
                config[key] = env[name]
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            config["region"] = region
        # a store that does not answer is an error in seconds, not after minutes of retries
        client = {"connect_timeout": "5s", "timeout": "120s", "allow_http": bool(endpoint and endpoint.startswith("http://"))}
        retry = {"max_retries": 2, "retry_timeout": timedelta(seconds=20)}
        self._store = S3Store(bucket, prefix=prefix.strip("/") or None, config=config, client_options=client,
                              retry_config=retry)

    def _missing(self, exc: BaseException) -> bool:
        from obstore.exceptions import NotFoundError

        return isinstance(exc, NotFoundError | FileNotFoundError)

    def _failed(self, exc: BaseException, what: str) -> BaseException:
        """``FileNotFoundError`` for a missing object, else a :class:`StoreError` saying what failed."""
        if self._missing(exc):
            return FileNotFoundError(what)
        if isinstance(exc, StoreError):
            return exc
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return StoreError(f"the artifact store {self.url} failed to {what}: {type(exc).__name__}: {detail}")

    def _gather(self, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
        """Run ``calls`` (each makes its awaitable inside the loop, as obstore needs), at most
        :data:`_CONCURRENCY` at once; a call's exception is its result."""
        import asyncio  # ≈ 35 ms: only a run on S3 needs it

        async def bounded() -> list[Any]:
            gate = asyncio.Semaphore(_CONCURRENCY)

            async def one(call: Callable[[], Awaitable[Any]]) -> Any:
                async with gate:
                    try:
                        return await call()
                    except Exception as exc:  # noqa: BLE001 - returned: the caller sorts misses from failures
                        return exc

            return await asyncio.gather(*(one(c) for c in calls))

        return asyncio.run(bounded())

    def read(self, key: str) -> bytes:
        import obstore

        try:
            return bytes(obstore.get(self._store, key).bytes())
        except Exception as exc:
            raise self._failed(exc, f"read {key}") from None

    def read_many(self, keys: list[str]) -> dict[str, bytes]:
        import obstore

        async def get(key: str) -> bytes:
            got = await obstore.get_async(self._store, key)
            return bytes(await got.bytes_async())

        found = {}
        for key, got in zip(keys, self._gather([functools.partial(get, k) for k in keys]), strict=True):
            if isinstance(got, bytes):
                found[key] = got
            elif not self._missing(got):
                raise self._failed(got, f"read {key}")
        return found

    def write(self, key: str, data: bytes) -> None:
        import obstore

        try:
            obstore.put(self._store, key, data)  # one PUT: atomic
        except Exception as exc:
            raise self._failed(exc, f"write {key}") from None

    def upload(self, pairs: list[tuple[str, str]]) -> None:
        from pathlib import Path

        import obstore

        calls = [functools.partial(obstore.put_async, self._store, key, Path(local)) for local, key in pairs]
        for (_local, key), got in zip(pairs, self._gather(calls), strict=True):
            if isinstance(got, Exception):
                raise self._failed(got, f"upload {key}")

    def download(self, pairs: list[tuple[str, str]]) -> None:
        import obstore

        async def fetch(key: str, local: str) -> None:
            got = await obstore.get_async(self._store, key)
            with open(local, "wb") as fh:
                async for chunk in got.stream():
                    fh.write(chunk)

        calls = [functools.partial(fetch, k, loc) for k, loc in pairs]
        for (key, _local), got in zip(pairs, self._gather(calls), strict=True):
            if isinstance(got, Exception):
                raise self._failed(got, f"download {key}")

    def delete(self, keys: Iterable[str]) -> None:
        import obstore

        keys = list(keys)
        for start in range(0, len(keys), 1000):
            with contextlib.suppress(Exception):
                obstore.delete(self._store, keys[start:start + 1000])

    def list(self, prefix: str) -> dict[str, tuple[int, float | None]]:
        import obstore

        found = {}
        try:
            for batch in obstore.list(self._store, prefix=prefix.rstrip("/") + "/"):
                for obj in batch:
                    found[obj["path"]] = (int(obj["size"]), _timestamp(obj.get("last_modified")))
        except Exception as exc:
            raise self._failed(exc, f"list {prefix}") from None
        return found

    def modified(self, key: str) -> float:
        import obstore

        try:
            return _timestamp(obstore.head(self._store, key)["last_modified"]) or 0.0
        except Exception as exc:
            raise self._failed(exc, f"stat {key}") from None

    def chunks(self, key: str) -> Iterator[bytes]:
        import obstore

        try:
            got = obstore.get(self._store, key)
            for chunk in got.stream():
                yield bytes(chunk)
        except Exception as exc:
            raise self._failed(exc, f"read {key}") from None


def _store_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """A failure other than a missing object is a :class:`StoreError` naming the store and the operation."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (FileNotFoundError, StoreError):
            raise
        except OSError as exc:
            raise StoreError(f"the artifact store {self.url} failed to {method.__name__}: "
                             f"{type(exc).__name__}: {exc}") from None

    return wrapper


class FsspecBackend:
    """Any fsspec URL; a local or shared folder (``file://``) writes through a temp file and a rename."""

    def __init__(self, url: str):
        import fsspec

        self.url = url
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise DuctworkError(f"the artifact store '{url}' cannot be opened: {exc}. Use s3://bucket/prefix, "
                                "a shared folder, or leave the store unset for the workspace's own folder.") from None
        from fsspec.implementations.local import LocalFileSystem

        self.root = str(root).rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _key(self, path: str) -> str:
        path = str(path)
        return path[len(self.root) + 1:] if path.startswith(self.root + "/") else path

    @_store_errors
    def read(self, key: str) -> bytes:
        if self.local:
            with open(self._path(key), "rb") as fh:
                return fh.read()
        return self.fs.cat_file(self._path(key))

    @_store_errors
    def read_many(self, keys: list[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        if self.local:
            found = {}
            for key in keys:
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    found[key] = self.read(key)
            return found
        paths = [self._path(k) for k in keys]
        got = self.fs.cat(paths, on_error="return")
        if not isinstance(got, dict):
            got = {paths[0]: got}
        return {self._key(p): bytes(v) for p, v in got.items() if isinstance(v, bytes | bytearray)}

    @_store_errors
    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if not self.local:
            self.fs.pipe_file(path, data)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{os.path.dirname(path)}/{_TMP}{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @_store_errors
    def upload(self, pairs: list[tuple[str, str]]) -> None:
        if not pairs:
            return
        if not self.local:
            self.fs.put([p for p, _ in pairs], [self._path(k) for _, k in pairs])
            return
        for local, key in pairs:
            path = self._path(key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{os.path.dirname(path)}/{_TMP}{uuid.uuid4().hex}"
            shutil.copyfile(local, tmp)
            os.replace(tmp, path)

    @_store_errors
    def download(self, pairs: list[tuple[str, str]]) -> None:
        if not pairs:
            return
        if self.local:
            for key, local in pairs:
                shutil.copyfile(self._path(key), local)
            return
        self.fs.get([self._path(k) for k, _ in pairs], [loc for _, loc in pairs])

    @_store_errors
    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            with contextlib.suppress(FileNotFoundError, OSError):
                self.fs.rm_file(self._path(key))

    @_store_errors
    def list(self, prefix: str) -> dict[str, tuple[int, float | None]]:
        try:
            found = self.fs.find(self._path(prefix.rstrip("/")), detail=True)
        except FileNotFoundError:
            return {}
        return {self._key(p): (int(info.get("size") or 0), _timestamp(info.get("mtime") or info.get("LastModified")))
                for p, info in found.items() if _TMP not in p}

    @_store_errors
    def modified(self, key: str) -> float:
        info = self.fs.info(self._path(key))
        if self.local:
            return max(float(info.get("mtime") or 0.0), float(info.get("created") or 0.0))
        return _timestamp(info.get("mtime") or info.get("LastModified") or info.get("last_modified")) or 0.0

    def chunks(self, key: str) -> Iterator[bytes]:
        with self.fs.open(self._path(key), "rb") as fh:
            while chunk := fh.read(8 * 2**20):
                yield chunk
