"""Python client for segserve: submit images for panoptic segmentation or mask inpainting,
follow the jobs, and read the results as NumPy id maps, segment lists and PIL images.

    from segserve_client import Client
    with Client("http://127.0.0.1:8080") as client:
        ids = client.segment("photo.jpg").panoptic()
"""
from ._async import AsyncClient, AsyncJob
from ._errors import (APIError, AuthenticationError, BadRequestError, ConflictError, ForbiddenError,
                      JobFailedError, JobTimeoutError, NotFoundError, PayloadTooLargeError, RateLimitedError,
                      SegserveError, UnavailableError, UnprocessableError, UnsupportedMediaTypeError)
from ._sync import Client, Job
from ._version import __version__

__all__ = [
    "Client", "Job", "AsyncClient", "AsyncJob", "__version__",
    "SegserveError", "APIError", "BadRequestError", "AuthenticationError", "ForbiddenError", "NotFoundError",
    "ConflictError", "PayloadTooLargeError", "UnsupportedMediaTypeError", "UnprocessableError", "RateLimitedError",
    "UnavailableError", "JobFailedError", "JobTimeoutError",
]
