"""Domain errors. One middleware turns each into an RFC 9457 problem+json answer."""

from __future__ import annotations

from typing import Any


class ProblemError(Exception):
    """An error with a defined HTTP answer. Its message is shown to the client: no secrets."""

    status = 500
    type_slug = "internal-error"
    title = "Internal server error"
    default_retry_after: float | None = None  # transient errors tell clients when to retry

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        retry_after: float | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.retry_after = retry_after if retry_after is not None else self.default_retry_after
        self.extra = extra


class ValidationError(ProblemError):
    status = 400
    type_slug = "invalid-request"
    title = "Invalid request"


class UnsupportedMediaType(ProblemError):
    status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


class PayloadTooLarge(ProblemError):
    status = 413
    type_slug = "payload-too-large"
    title = "Request body too large"


class Unauthorized(ProblemError):
    status = 401
    type_slug = "unauthorized"
    title = "Unauthorized"


class Forbidden(ProblemError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


# --- upstream (Voiceflow) ---------------------------------------------------------------------


class UpstreamError(ProblemError):
    """Voiceflow could not give an answer; the subclass says why."""

    status = 502
    type_slug = "upstream-error"
    title = "Voiceflow analytics failed"


class UpstreamAuthError(UpstreamError):
    """401 from Voiceflow: a configuration problem (wrong key, or no access to the project)."""

    type_slug = "upstream-unauthorized"
    title = "Voiceflow rejected the configured API key"


class UpstreamBadRequest(UpstreamError):
    type_slug = "upstream-bad-request"
    title = "Voiceflow rejected the query"


class UpstreamRateLimited(UpstreamError):
    status = 503
    type_slug = "upstream-rate-limited"
    title = "Voiceflow rate limit reached"


class UpstreamBadAnswer(UpstreamError):
    """A 200 the contract (voiceflow-api.md) does not allow: malformed JSON, a missing or
    mistyped field, a cursor that never ends, a page larger than asked. The detail names the
    problem; nothing of the answer is kept, and asking again fetches it again."""

    type_slug = "upstream-bad-answer"
    title = "Voiceflow answered something the API does not allow"


class UpstreamUnavailable(UpstreamError):
    """5xx after retries, or a broken connection: transient, so worth retrying later."""

    status = 503
    default_retry_after = 10.0
    type_slug = "upstream-unavailable"
    title = "Voiceflow analytics unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    default_retry_after = 10.0
    type_slug = "upstream-timeout"
    title = "Voiceflow analytics timed out"


class ServiceUnavailable(ProblemError):
    status = 503
    default_retry_after = 5.0
    type_slug = "unavailable"
    title = "Service unavailable"


class StillFetching(ServiceUnavailable):
    """The answer is being fetched and will take longer than a request waits. The fetch goes
    on; Retry-After is the estimate of when it is done, and the body says how far it is."""

    type_slug = "still-fetching"
    title = "The answer is still being fetched"
