"""The authorization server's pages: consent and errors, server-rendered, small, accessible.

Plain HTML with a native form (no script): labelled controls, a language, a title, visible
focus, and text that names the application and what it asks for. Every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Final

__all__ = ["consent_page", "error_page"]

_STYLE: Final = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "color:#1a1a1a}h1{font-size:1.4rem}ul{padding-left:1.2rem}"
    "button{font:inherit;padding:.5rem 1.2rem;margin-right:.6rem;border-radius:4px;"
    "border:1px solid #333;cursor:pointer}button.primary{background:#1a4fb4;color:#fff;"
    "border-color:#1a4fb4}button:focus{outline:3px solid #f5a623;outline-offset:2px}"
    "code{word-break:break-all}"
)
_SCOPES: Final = {
    "mcp": "use the MCP tools you are allowed to use, as you",
    "offline_access": "stay signed in (refresh its access without asking you again)",
}


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Giru</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def consent_page(
    *,
    client_name: str,
    client_id: str,
    person: str,
    scopes: list[str],
    resource: str,
    flow: str,
    csrf: str,
    action: str,
) -> str:
    """The question: may this client act for `person` at `resource` with `scopes`?"""
    items = "".join(
        f"<li><strong>{escape(s)}</strong>: {escape(_SCOPES.get(s, 'access named ' + s))}</li>"
        for s in scopes
    )
    body = (
        f"<h1>Allow {escape(client_name)} to use Giru as you?</h1>"
        f"<p>You are signed in as <strong>{escape(person)}</strong>.</p>"
        f"<p>The application <strong>{escape(client_name)}</strong> "
        f"(client <code>{escape(client_id)}</code>) asks to:</p>"
        f'<ul aria-label="Requested permissions">{items}</ul>'
        f"<p>at <code>{escape(resource)}</code>.</p>"
        "<p>The application chose its own name. Allow only if you just started this sign-in "
        "from it.</p>"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="flow" value="{escape(flow)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button class="primary" type="submit" name="decision" value="allow">Allow</button>'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form>"
    )
    return _page("Allow access", body)


def error_page(title: str, message: str) -> str:
    """An error the browser's user sees when Giru must not redirect (RFC 6749 §4.1.2.1)."""
    body = (
        f'<h1 role="alert">{escape(title)}</h1><p>{escape(message)}</p>'
        "<p>Return to the application and start the sign-in again.</p>"
    )
    return _page(title, body)
