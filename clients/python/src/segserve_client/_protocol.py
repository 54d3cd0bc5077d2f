"""What the sync and async clients share: request bodies, result decoding, problems, retry
delays and the event-stream parser. Nothing here does I/O on the network."""
from __future__ import annotations

import email.utils
import io
import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import IO, Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import httpx
import numpy as np
import numpy.typing as npt
from PIL import Image

from ._errors import APIError, error_for

TERMINAL_STATES = frozenset({"succeeded", "failed", "canceled"})
RETRIED_STATUSES = frozenset({429, 503})

ImageInput = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes], Image.Image, npt.NDArray[np.uint8]]
IdMap = npt.NDArray[np.uint32]
# An [H, W] array, or the PNG bytes of one.
MaskInput = Union[npt.NDArray[Any], bytes]


def image_body(image: ImageInput) -> Tuple[bytes, str]:
    """The bytes and media type to upload for `image`: PNG and JPEG files go as they are,
    anything else Pillow reads (an Image, an RGB array, a WebP file, ...) as PNG."""
    if isinstance(image, Image.Image):
        return png_bytes(image), "image/png"
    if isinstance(image, np.ndarray):
        return png_bytes(Image.fromarray(np.ascontiguousarray(image))), "image/png"
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            data = f.read()
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    else:
        data = image.read()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data, "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return data, "image/jpeg"
    try:
        with Image.open(io.BytesIO(data)) as decoded:
            return png_bytes(decoded), "image/png"
    except OSError as error:
        raise ValueError(f"not an image this client can send: {error}") from None


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def ids_png(ids: MaskInput) -> bytes:
    """A COCO panoptic PNG (id = R + 256 G + 256^2 B) of an [H, W] id map; PNG bytes pass through."""
    if isinstance(ids, (bytes, bytearray)):
        return bytes(ids)
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.min(initial=0) < 0 or ids.max(initial=0) >= 1 << 24:
        raise ValueError("an id map is [H, W] with ids in 0..2^24-1")
    ids = ids.astype(np.uint32)
    rgb = np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], axis=-1).astype(np.uint8)
    return png_bytes(Image.fromarray(rgb, "RGB"))


def known_png(known: MaskInput) -> bytes:
    """A binary PNG of a [H, W] mask (true or non-zero: known); PNG bytes pass through."""
    if isinstance(known, (bytes, bytearray)):
        return bytes(known)
    known = np.asarray(known)
    if known.ndim != 2:
        raise ValueError("a known mask is [H, W]")
    return png_bytes(Image.fromarray(np.where(known != 0, 255, 0).astype(np.uint8), "L"))


def decode_ids(png: bytes) -> IdMap:
    """The [H, W] uint32 id map of a COCO panoptic PNG (0 = void)."""
    with Image.open(io.BytesIO(png)) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint32)
    ids: IdMap = rgb[..., 0] + (rgb[..., 1] << 8) + (rgb[..., 2] << 16)
    return ids


def query(options: Mapping[str, Any]) -> Dict[str, str]:
    """Options as query parameters: booleans lower-case, None left out."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in options.items() if v is not None}


def submit_headers(idempotency_key: Optional[str], wait: Optional[float]) -> Dict[str, str]:
    """A fresh idempotency key unless one is given, so a retried POST never makes a second job."""
    headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
    if wait:
        headers["Prefer"] = f"wait={int(wait)}"
    return headers


def inpainting_files(image: ImageInput, mask: MaskInput, known: Optional[MaskInput],
                     options: Mapping[str, Any]) -> List[Tuple[str, Tuple[str, bytes, str]]]:
    body, media_type = image_body(image)
    files = [("image", ("image", body, media_type)), ("mask", ("mask.png", ids_png(mask), "image/png"))]
    if known is not None:
        files.append(("known", ("known.png", known_png(known), "image/png")))
    chosen = {k: v for k, v in options.items() if v is not None}
    if chosen:
        files.append(("options", ("options.json", json.dumps(chosen).encode(), "application/json")))
    return files


def client_headers(api_key: Optional[str], version: str) -> Dict[str, str]:
    """The headers every request of a client carries."""
    headers = {"User-Agent": f"segserve-client/{version}"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def retry_wait(attempt: int, retries: int, max_delay: float, response: Optional[httpx.Response] = None) -> Optional[float]:
    """Seconds to wait before trying again after attempt `attempt` (0-based), or None to stop:
    a connection error (no `response`) or a 429 or 503 answer is retried, `retries` times."""
    if attempt >= retries:
        return None
    if response is None:
        return min(max_delay, 0.5 * 2.0 ** attempt)
    return retry_delay(response, attempt, max_delay) if response.status_code in RETRIED_STATUSES else None


def retry_after(response: httpx.Response) -> Optional[float]:
    """Seconds from a Retry-After header (delta or HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    when = email.utils.parsedate_to_datetime(value) if value else None
    return max(0.0, when.timestamp() - time.time()) if when else None


def retry_delay(response: httpx.Response, attempt: int, max_delay: float) -> float:
    """How long to wait before retry `attempt` (0-based): Retry-After, else exponential backoff."""
    after = retry_after(response)
    return min(max_delay, after if after is not None else 0.5 * 2.0 ** attempt)


def problem(response: httpx.Response) -> APIError:
    """The typed exception of an error response (problem+json, or its text when not JSON)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"type": "about:blank", "title": response.reason_phrase, "status": response.status_code,
                "detail": response.text[:500]}
    return error_for(response.status_code, body, retry_after(response))


@dataclass
class Event:
    """One server-sent event."""
    id: Optional[str]
    event: str
    data: str


class EventParser:
    """text/event-stream lines in, events out (the WHATWG rules this API uses)."""

    def __init__(self) -> None:
        self._id: Optional[str] = None
        self._event = ""
        self._data: List[str] = []

    def feed(self, line: str) -> Iterator[Event]:
        if line == "":
            if self._data:
                yield Event(self._id, self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return
        if line.startswith(":"):
            return
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id":
            self._id = value
        elif field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)


def open_png(data: bytes) -> Image.Image:
    """A decoded PNG, detached from its bytes."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


class JobFields:
    """A job as the server last showed it (`data`), field by field; `Job` and `AsyncJob` add the calls."""

    def __init__(self, data: Dict[str, Any]) -> None:
        self.data: Dict[str, Any] = {}
        self._update(data)

    def _update(self, data: Dict[str, Any]) -> None:
        self.data = data
        self.id: str = data["id"]
        self.kind: str = data["kind"]
        self.state: str = data["state"]
        self.progress: Dict[str, int] = data.get("progress", {})
        self.options: Dict[str, Any] = data.get("options") or {}
        self.error: Optional[Dict[str, Any]] = data.get("error")

    def _on_event(self, event: Event) -> bool:
        """Takes one event of the job's stream; true once the job has ended."""
        if event.event == "done":
            self._update(json.loads(event.data))
            return True
        if event.event == "progress":
            self.progress = json.loads(event.data)
            self.state = "running"
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, kind={self.kind!r}, state={self.state!r}, progress={self.progress})"

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES
