"""The asyncio twin of `Client`: `AsyncClient` and its `AsyncJob`s, method for method."""
from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Dict, List, Optional

import httpx
from PIL import Image

from . import _protocol as protocol
from ._errors import JobFailedError, JobTimeoutError, UnavailableError
from ._sync import POLL_WAIT
from ._version import __version__


class AsyncClient:
    """`Client` for asyncio: the same calls, awaited."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", api_key: Optional[str] = None, *,
                 timeout: float = 60.0, max_retries: int = 5, max_retry_delay: float = 60.0,
                 transport: Optional[httpx.AsyncBaseTransport] = None) -> None:
        self.max_retries = max_retries
        self.max_retry_delay = max_retry_delay
        self.http = httpx.AsyncClient(base_url=base_url, headers=protocol.client_headers(api_key, __version__), timeout=timeout,
                                      transport=transport)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, *, retries: Optional[int] = None, **kwargs: Any) -> httpx.Response:
        retries = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                response = await self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                wait = protocol.retry_wait(attempt, retries, self.max_retry_delay)
                if wait is None:
                    raise
            else:
                wait = protocol.retry_wait(attempt, retries, self.max_retry_delay, response)
                if wait is None:
                    if response.status_code >= 400:
                        raise protocol.problem(response)
                    return response
            await asyncio.sleep(wait)
            attempt += 1

    async def segment(self, image: protocol.ImageInput, *, wait: Optional[float] = None,
                      idempotency_key: Optional[str] = None, **options: Any) -> "AsyncJob":
        body, media_type = protocol.image_body(image)
        headers = dict(protocol.submit_headers(idempotency_key, wait), **{"Content-Type": media_type})
        response = await self.request("POST", "/v1/segmentations", params=protocol.query(options), headers=headers, content=body)
        return AsyncJob(self, response.json())

    async def inpaint(self, image: protocol.ImageInput, mask: protocol.MaskInput,
                      known: Optional[protocol.MaskInput] = None, *, wait: Optional[float] = None,
                      idempotency_key: Optional[str] = None, **options: Any) -> "AsyncJob":
        files = protocol.inpainting_files(image, mask, known, options)
        response = await self.request("POST", "/v1/inpaintings", headers=protocol.submit_headers(idempotency_key, wait), files=files)
        return AsyncJob(self, response.json())

    async def job(self, job_id: str) -> "AsyncJob":
        return AsyncJob(self, (await self.request("GET", f"/v1/jobs/{job_id}")).json())

    async def jobs(self, *, state: Optional[str] = None, kind: Optional[str] = None, page_size: int = 50) -> AsyncIterator["AsyncJob"]:
        cursor: Optional[str] = None
        while True:
            params = protocol.query({"state": state, "kind": kind, "limit": page_size, "cursor": cursor})
            page = (await self.request("GET", "/v1/jobs", params=params)).json()
            for data in page["jobs"]:
                yield AsyncJob(self, data)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def cancel(self, job_id: str) -> "AsyncJob":
        return AsyncJob(self, (await self.request("DELETE", f"/v1/jobs/{job_id}")).json())

    async def models(self) -> List[Dict[str, Any]]:
        return list((await self.request("GET", "/v1/models")).json()["models"])


class AsyncJob(protocol.JobFields):
    """A job and its results, over an `AsyncClient`: `Job`'s calls, awaited."""

    def __init__(self, client: AsyncClient, data: Dict[str, Any]) -> None:
        self.client = client
        super().__init__(data)

    async def refresh(self) -> "AsyncJob":
        self._update((await self.client.request("GET", f"/v1/jobs/{self.id}")).json())
        return self

    async def cancel(self) -> "AsyncJob":
        self._update((await self.client.request("DELETE", f"/v1/jobs/{self.id}")).json())
        return self

    async def wait(self, timeout: Optional[float] = None) -> "AsyncJob":
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.done:
            try:
                await self._follow_events(deadline)
            except (UnavailableError, httpx.TransportError):
                pass
        while not self.done:
            left = POLL_WAIT if deadline is None else min(POLL_WAIT, deadline - time.monotonic())
            if left <= 0:
                raise JobTimeoutError(f"job {self.id} is still {self.state} after {timeout} s")
            headers = {"Prefer": f"wait={max(1, int(left))}"}
            response = await self.client.request("GET", f"/v1/jobs/{self.id}", headers=headers,
                                                 timeout=left + POLL_WAIT)
            self._update(response.json())
        return self

    async def _follow_events(self, deadline: Optional[float]) -> None:
        parser = protocol.EventParser()
        async with self.client.http.stream("GET", f"/v1/jobs/{self.id}/events") as response:
            if response.status_code == 204:
                await self.refresh()
                return
            if response.status_code >= 400:
                await response.aread()
                raise protocol.problem(response)
            async for line in response.aiter_lines():
                if deadline is not None and time.monotonic() > deadline:
                    raise JobTimeoutError(f"job {self.id} is still {self.state}")
                if any(self._on_event(event) for event in parser.feed(line)):
                    return

    async def _succeeded(self) -> None:
        await self.wait()
        if self.state != "succeeded":
            raise JobFailedError(self.id, self.state, self.error)

    async def panoptic_png(self) -> bytes:
        await self._succeeded()
        return (await self.client.request("GET", f"/v1/jobs/{self.id}/panoptic.png")).content

    async def panoptic(self) -> protocol.IdMap:
        return protocol.decode_ids(await self.panoptic_png())

    async def annotation(self) -> Dict[str, Any]:
        await self._succeeded()
        return dict((await self.client.request("GET", f"/v1/jobs/{self.id}/segments.json")).json())

    async def segments(self) -> List[Dict[str, Any]]:
        return list((await self.annotation())["segments_info"])

    async def overlay(self) -> Image.Image:
        await self._succeeded()
        return protocol.open_png((await self.client.request("GET", f"/v1/jobs/{self.id}/overlay.png")).content)

    async def uncertainty(self) -> Image.Image:
        await self._succeeded()
        return protocol.open_png((await self.client.request("GET", f"/v1/jobs/{self.id}/uncertainty.png")).content)
