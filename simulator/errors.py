"""Errors the simulator answers with, in Voiceflow's `{"statusCode", "message"}` body shape."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

UNAUTHORIZED_MESSAGE = (
    "The provided authentication token does not have permissions for some "
    "of the requested resources"
)
RATE_LIMITED_MESSAGE = "You have sent too many requests and are being ratelimited"


class ApiError(Exception):
    """An answer other than 200; one place (responses.error_response) turns it into JSON."""

    def __init__(
        self, status: int, message: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.message = message if message is not None else HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        super().__init__(f"{status}: {self.message}")


class BadRequest(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class Unauthorized(ApiError):
    def __init__(self) -> None:
        super().__init__(401, UNAUTHORIZED_MESSAGE)


class RateLimited(ApiError):
    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(429, RATE_LIMITED_MESSAGE, headers)
