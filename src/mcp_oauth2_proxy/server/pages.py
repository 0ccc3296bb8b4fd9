"""The few HTML pages a person sees: consent, device code entry, results, errors.

Every interpolated value is escaped; pages are never cached, cannot be framed,
run no script, and may submit forms only to this server (plus, for the consent
page, the client's redirect origin, because browsers apply ``form-action`` to
the redirect that follows the POST).
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from starlette.responses import HTMLResponse

from ..urls import origin

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d1d1f}code{background:#f2f2f2;padding:0 .25rem}button{font-size:1rem;"
    "padding:.5rem 1.25rem;margin-right:.5rem}.scope{margin:.25rem 0}"
)


def page_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """Return the security headers every page carries."""
    targets = " ".join(["'self'", *(origin(t) for t in form_targets)])
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'unsafe-inline'; form-action {targets}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _scope_list(scopes: Iterable[str]) -> str:
    items = "".join(f"<li class=scope><code>{escape(s)}</code></li>" for s in sorted(scopes))
    return f"<ul>{items}</ul>" if items else "<p>No specific permissions.</p>"


def consent_page(
    *,
    action: str,
    client_name: str,
    client_id: str,
    subject: str,
    scopes: Iterable[str],
    resources: Iterable[str],
    hidden: dict[str, str],
    redirect_uri: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render the Approve / Deny page that POSTs ``hidden`` fields to ``action``."""
    resource_text = ", ".join(f"<code>{escape(r)}</code>" for r in resources) or "this server"
    fields = "".join(
        f"<input type=hidden name='{escape(k)}' value='{escape(v)}'>" for k, v in hidden.items()
    )
    body = (
        f"<p><strong>{escape(client_name)}</strong> (<code>{escape(client_id)}</code>) "
        f"asks to access {resource_text} as <strong>{escape(subject)}</strong> with:</p>"
        f"{_scope_list(scopes)}"
        f"<form method=post action='{escape(action)}'>{fields}"
        "<button type=submit name=decision value=approve>Approve</button>"
        "<button type=submit name=decision value=deny>Deny</button></form>"
    )
    targets = [redirect_uri] if redirect_uri and redirect_uri.startswith("http") else []
    return HTMLResponse(
        _document("Authorize access", body), status_code=status_code, headers=page_headers(targets)
    )


def device_entry_page(
    action: str, message: str | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render the form where the user types the code shown by the device."""
    note = f"<p>{escape(message)}</p>" if message else ""
    body = (
        f"{note}<p>Enter the code shown by the application.</p>"
        f"<form method=get action='{escape(action)}'>"
        "<input name=user_code autocomplete=off autofocus placeholder='XXXX-XXXX' "
        "pattern='[A-Za-z]{4}-?[A-Za-z]{4}'> <button type=submit>Continue</button></form>"
    )
    return HTMLResponse(
        _document("Device sign-in", body), status_code=status_code, headers=page_headers()
    )


def message_page(title: str, message: str, status_code: int = 200) -> HTMLResponse:
    """Render a short result or error page."""
    return HTMLResponse(
        _document(title, f"<p>{escape(message)}</p>"),
        status_code=status_code,
        headers=page_headers(),
    )


__all__ = ["consent_page", "device_entry_page", "message_page", "page_headers"]
