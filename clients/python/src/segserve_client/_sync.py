"""The blocking client: `Client` and the `Job`s it returns."""
from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Optional

import httpx
from PIL import Image

from . import _protocol as protocol
from ._errors import JobFailedError, JobTimeoutError, UnavailableError
from ._version import __version__

# How long one poll asks the server to hold a job GET open (`Prefer: wait`).
POLL_WAIT = 30.0


class Client:
    """A segserve server at `base_url`, with `api_key` when the server has keys.

    Requests answered 429 or 503 are retried after their Retry-After (at most `max_retries`
    times, each wait at most `max_retry_delay` seconds), as are connection errors; every
    submission carries an idempotency key, so a retried POST never makes a second job."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", api_key: Optional[str] = None, *,
                 timeout: float = 60.0, max_retries: int = 5, max_retry_delay: float = 60.0,
                 transport: Optional[httpx.BaseTransport] = None) -> None:
        self.max_retries = max_retries
        self.max_retry_delay = max_retry_delay
        self.http = httpx.Client(base_url=base_url, headers=protocol.client_headers(api_key, __version__), timeout=timeout,
                                 transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, retries: Optional[int] = None, **kwargs: Any) -> httpx.Response:
        """One API call; an error answer raises its typed `APIError`."""
        retries = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
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
            time.sleep(wait)
            attempt += 1

    def segment(self, image: protocol.ImageInput, *, wait: Optional[float] = None,
                idempotency_key: Optional[str] = None, **options: Any) -> "Job":
        """Submits `image` for panoptic segmentation with the API's options (`steps`, `seed`,
        `ensemble_seeds`, `flip`, ...); `wait` seconds lets the server answer once it is done."""
        body, media_type = protocol.image_body(image)
        headers = dict(protocol.submit_headers(idempotency_key, wait), **{"Content-Type": media_type})
        response = self.request("POST", "/v1/segmentations", params=protocol.query(options), headers=headers, content=body)
        return Job(self, response.json())

    def inpaint(self, image: protocol.ImageInput, mask: protocol.MaskInput,
                known: Optional[protocol.MaskInput] = None, *, wait: Optional[float] = None,
                idempotency_key: Optional[str] = None, **options: Any) -> "Job":
        """Submits `image` with a partial id map `mask` ([H, W] ids, 0 void, or a panoptic PNG) to
        complete; `known` ([H, W], non-zero = known) defaults to the mask's non-void pixels."""
        files = protocol.inpainting_files(image, mask, known, options)
        response = self.request("POST", "/v1/inpaintings", headers=protocol.submit_headers(idempotency_key, wait), files=files)
        return Job(self, response.json())

    def job(self, job_id: str) -> "Job":
        return Job(self, self.request("GET", f"/v1/jobs/{job_id}").json())

    def jobs(self, *, state: Optional[str] = None, kind: Optional[str] = None, page_size: int = 50) -> Iterator["Job"]:
        """Every job this key may see, newest first, page after page."""
        cursor: Optional[str] = None
        while True:
            params = protocol.query({"state": state, "kind": kind, "limit": page_size, "cursor": cursor})
            page = self.request("GET", "/v1/jobs", params=params).json()
            for data in page["jobs"]:
                yield Job(self, data)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, job_id: str) -> "Job":
        return Job(self, self.request("DELETE", f"/v1/jobs/{job_id}").json())

    def models(self) -> List[Dict[str, Any]]:
        """The loaded model(s) and their default options."""
        return list(self.request("GET", "/v1/models").json()["models"])


class Job(protocol.JobFields):
    """A job and its results, over a blocking `Client`."""

    def __init__(self, client: Client, data: Dict[str, Any]) -> None:
        self.client = client
        super().__init__(data)

    def refresh(self) -> "Job":
        self._update(self.client.request("GET", f"/v1/jobs/{self.id}").json())
        return self

    def cancel(self) -> "Job":
        self._update(self.client.request("DELETE", f"/v1/jobs/{self.id}").json())
        return self

    def wait(self, timeout: Optional[float] = None) -> "Job":
        """Blocks until the job ends, following its event stream (or polling when the server
        has no stream to spare); raises `JobTimeoutError` after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.done:
            try:
                self._follow_events(deadline)
            except (UnavailableError, httpx.TransportError):
                pass
        while not self.done:
            left = POLL_WAIT if deadline is None else min(POLL_WAIT, deadline - time.monotonic())
            if left <= 0:
                raise JobTimeoutError(f"job {self.id} is still {self.state} after {timeout} s")
            headers = {"Prefer": f"wait={max(1, int(left))}"}
            self._update(self.client.request("GET", f"/v1/jobs/{self.id}", headers=headers,
                                             timeout=left + POLL_WAIT).json())
        return self

    def _follow_events(self, deadline: Optional[float]) -> None:
        parser = protocol.EventParser()
        with self.client.http.stream("GET", f"/v1/jobs/{self.id}/events") as response:
            if response.status_code == 204:
                self.refresh()
                return
            if response.status_code >= 400:
                response.read()
                raise protocol.problem(response)
            for line in response.iter_lines():
                if deadline is not None and time.monotonic() > deadline:
                    raise JobTimeoutError(f"job {self.id} is still {self.state}")
                if any(self._on_event(event) for event in parser.feed(line)):
                    return

    def _succeeded(self) -> None:
        self.wait()
        if self.state != "succeeded":
            raise JobFailedError(self.id, self.state, self.error)

    def panoptic_png(self) -> bytes:
        """The COCO panoptic PNG at the image's size (waits for the job)."""
        self._succeeded()
        return self.client.request("GET", f"/v1/jobs/{self.id}/panoptic.png").content

    def panoptic(self) -> protocol.IdMap:
        """The [H, W] uint32 id map (0 = void; waits for the job)."""
        return protocol.decode_ids(self.panoptic_png())

    def annotation(self) -> Dict[str, Any]:
        """The COCO panoptic annotation: `segments_info`, `width`, `height` (waits for the job)."""
        self._succeeded()
        return dict(self.client.request("GET", f"/v1/jobs/{self.id}/segments.json").json())

    def segments(self) -> List[Dict[str, Any]]:
        """Each segment: `id`, `category_id`, `iscrowd`, `bbox`, `area` and `score`, how likely it is
        right in [0, 1] (waits for the job)."""
        return list(self.annotation()["segments_info"])

    def overlay(self) -> Image.Image:
        """The image with the segments drawn over it (waits for the job)."""
        self._succeeded()
        return protocol.open_png(self.client.request("GET", f"/v1/jobs/{self.id}/overlay.png").content)

    def uncertainty(self) -> Image.Image:
        """Where the model is unsure: 8-bit grey at the image's size, 255 least sure (waits for the job)."""
        self._succeeded()
        return protocol.open_png(self.client.request("GET", f"/v1/jobs/{self.id}/uncertainty.png").content)
