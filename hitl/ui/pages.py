"""The page renderer of the web UI: the Jinja environment, the layout's context, the headers
every page carries (a strict Content-Security-Policy, no caching).

Every UI module renders through `render_page`, so sign-in (`hitl.ui.auth`), the request and
thread pages (`hitl.ui.routes`), administration, account, status and bulk answers all share
one environment and one set of filters. It imports no route module, so each of them can
import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from hitl import headlines
from hitl.models import REQUEST_STATES, THREAD_STATUSES
from hitl.ui import present, search

#: The form field (or ``X-CSRF-Token`` header) carrying a session's CSRF token.
CSRF_FIELD = "_csrf"

TEMPLATES = Path(__file__).parent / "templates"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every value from an agent is escaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(
    markdown=present.markdown,
    mentioned=present.mentioned,
    age=present.age,
    when=present.when,
    title=headlines.request_title,
    label=headlines.label,
    subline=headlines.subline,
    scalar=present.scalar,
    count=search.show_count,
)
env.globals.update(
    REQUEST_STATES=REQUEST_STATES,
    THREAD_STATUSES=THREAD_STATUSES,
    CSRF_FIELD=CSRF_FIELD,
    assigned_to=present.assigned_to,
    voter_names=present.voter_names,
)


def render_page(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page with the layout's context: who is signed in, and their CSRF token for forms."""
    principal = context.pop("principal", request.scope.get("principal"))
    html = env.get_template(template).render(
        principal=principal,
        csrf=principal.csrf_token if principal is not None else None,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )


def forbidden(request: Request, detail: str) -> HTMLResponse:
    """The 403 page, saying what is missing."""
    return render_page(request, "forbidden.html", status_code=403, detail=detail)


def query(**params: str | None) -> str:
    """A query string of the parameters that have a value (for links that keep filters)."""
    return urlencode({k: v for k, v in params.items() if v})
