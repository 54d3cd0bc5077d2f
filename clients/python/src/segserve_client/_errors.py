"""Problems (RFC 9457) the server answers, as exceptions that carry them."""
from __future__ import annotations

from typing import Any, Dict, Optional


class SegserveError(Exception):
    """Any error this client raises."""


class APIError(SegserveError):
    """A problem+json answer: `type` (e.g. "/problems/queue-full"), `status`, `title`, `detail`."""

    def __init__(self, problem: Dict[str, Any], status: int, retry_after: Optional[float] = None) -> None:
        self.problem = problem
        self.type: str = str(problem.get("type", "about:blank"))
        self.title: str = str(problem.get("title", ""))
        self.status: int = int(problem.get("status", status))
        self.detail: str = str(problem.get("detail", ""))
        self.retry_after = retry_after
        super().__init__(f"{self.status} {self.type}: {self.detail or self.title}")


class BadRequestError(APIError):
    """400: an invalid option, image or request."""


class AuthenticationError(APIError):
    """401: no API key, or one the server does not know."""


class ForbiddenError(APIError):
    """403: e.g. a cross-site request."""


class NotFoundError(APIError):
    """404: no such job (or another key's)."""


class ConflictError(APIError):
    """409: e.g. results of a job that has not succeeded, or cancelling an ended job."""


class PayloadTooLargeError(APIError):
    """413: the upload exceeds the server's body limit."""


class UnsupportedMediaTypeError(APIError):
    """415: not a PNG, JPEG or multipart body."""


class UnprocessableError(APIError):
    """422: a body the server could not decode (a broken image, mismatched sizes)."""


class RateLimitedError(APIError):
    """429: a key's quota or rate limit; `retry_after` says when to try again."""


class UnavailableError(APIError):
    """503: the queue is full, the service is shutting down, or too many event streams."""


_BY_STATUS = {400: BadRequestError, 401: AuthenticationError, 403: ForbiddenError, 404: NotFoundError,
              409: ConflictError, 413: PayloadTooLargeError, 415: UnsupportedMediaTypeError,
              422: UnprocessableError, 429: RateLimitedError, 503: UnavailableError}


def error_for(status: int, problem: Dict[str, Any], retry_after: Optional[float]) -> APIError:
    """The exception class for `status`, carrying `problem`."""
    return _BY_STATUS.get(status, APIError)(problem, status, retry_after)


class JobFailedError(SegserveError):
    """A job ended without results: `state` is failed or canceled, `problem` the job's error."""

    def __init__(self, job_id: str, state: str, problem: Optional[Dict[str, Any]]) -> None:
        self.job_id = job_id
        self.state = state
        self.problem = problem
        detail = (problem or {}).get("detail") or state
        super().__init__(f"job {job_id} {state}: {detail}")


class JobTimeoutError(SegserveError, TimeoutError):
    """`wait` ran out of time before the job ended."""
