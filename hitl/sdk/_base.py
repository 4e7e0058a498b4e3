"""What both SDK clients share around the HTTP: where the service is, who acts, how a `Call`
becomes an httpx request and its answer JSON or an error."""

from __future__ import annotations

from typing import Any, Final

import httpx

from hitl.sdk import _calls, errors

API_KEY_ENV: Final = "HITL_API_KEY"
DEFAULT_TIMEOUT: Final = 30.0


def read(response: httpx.Response) -> Any:
    """The response's JSON body, or the `HITLClientError` its status stands for."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:  # not JSON: a proxy's error page, say
        detail = response.text
    raise errors.for_status(response.status_code, detail)


#: The longest pause before a long poll refused with 503 is sent again (its Retry-After, within).
MAX_BUSY_PAUSE: Final = 30.0


def busy_pause(call: _calls.Call, response: httpx.Response) -> float | None:
    """Seconds to wait before sending ``call`` again, when the server was too busy to take
    it (503) and the call asked to be retried then; None otherwise."""
    if not call.retry_busy or response.status_code != 503:
        return None
    try:
        return min(max(float(response.headers.get("retry-after", "2")), 0.1), MAX_BUSY_PAUSE)
    except ValueError:  # an HTTP date, from a proxy
        return 2.0


class ClientBase:
    """The service's base URL, the call timeout and the API key, for either client."""

    def __init__(
        self,
        base_url: str | None,
        http_base_url: httpx.URL | None,
        timeout: float,
        api_key: str | None,
    ) -> None:
        url = base_url if base_url is not None else str(http_base_url or "")
        if not url:
            raise ValueError("give base_url (or an httpx client that has one)")
        self.base_url = url.rstrip("/")
        self.timeout = timeout
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def request_url(self, request_id: str) -> str:
        """The request's page in the web UI, ``{base_url}/requests/{id}``: where a person reads
        and answers it, so the link to put in a notification or a log line."""
        return f"{self.base_url}/requests/{_calls.seg(request_id)}"

    def _request(self, call: _calls.Call) -> dict[str, Any]:
        """The keyword arguments of ``httpx`` ``request()`` for ``call``."""
        kwargs: dict[str, Any] = {
            "method": call.method,
            "url": self.base_url + call.path,
            "params": call.params,
            "headers": {**self._auth, **(call.headers or {})} or None,
            "timeout": self.timeout + call.extra_timeout,
        }
        if call.body is not _calls.NO_BODY:
            kwargs["json"] = call.body
        return kwargs
