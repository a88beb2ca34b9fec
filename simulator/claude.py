"""The Claude client of the simulator's persona caller and judge, and how their failures read.

Both are optional: ``tandem eval`` uses them only when ``ANTHROPIC_API_KEY`` is set.
"""

from __future__ import annotations

import anthropic
import httpx2

from shared.config import Settings
from shared.errors import UpstreamError

TIMEOUT_S = 30.0
"""Per request: a judge's verdicts on a long call take a while; a persona line is much quicker."""
CONNECT_TIMEOUT_S = 5.0
MAX_RETRIES = 2
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def anthropic_client(settings: Settings) -> anthropic.AsyncAnthropic | None:
    """A client for ``ANTHROPIC_API_KEY`` (and ``ANTHROPIC_BASE_URL``) of ``settings``, or None
    without a key. The caller closes the client (``await client.close()`` or ``async with``)."""
    if settings.anthropic_api_key is None:
        return None
    return anthropic.AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,  # None: the SDK's own default
        timeout=httpx2.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        max_retries=MAX_RETRIES,
    )


def request_failed(what: str, error: anthropic.APIError) -> UpstreamError:
    """An :class:`UpstreamError` saying which request failed and why, without secrets.

    The message carries the error class, the HTTP status and the API's own explanation (e.g. an
    unknown model name), never the request or its headers.
    """
    kind = type(error).__name__
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        detail = f": {error.api_message}" if error.api_message else ""
        retryable = status in _RETRYABLE_STATUS or status >= 500
        return UpstreamError(f"{what} failed: {kind} (HTTP {status}){detail}", retryable=retryable)
    retryable = isinstance(error, anthropic.APIConnectionError)  # timeouts included
    return UpstreamError(f"{what} failed: {kind}", retryable=retryable)
