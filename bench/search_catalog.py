"""The catalogs `bench.search` measures: the quickstart's tools (captured from its four upstreams
into bench/data/search/quickstart-tools.json) and a synthetic SaaS catalog of 40 services x 5
objects x 5 verbs = 1,000 tools, repeated with numbered copies of each service for 10,000."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DATA", "quickstart", "synthetic"]

DATA = Path(__file__).resolve().parent / "data" / "search"

# service: (title, tags, five objects)
_SERVICES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "github": (
        "GitHub",
        ("code", "vcs"),
        ("repository", "issue", "pull request", "release", "branch"),
    ),
    "gitlab": (
        "GitLab",
        ("code", "vcs", "ci"),
        ("project", "merge request", "pipeline", "tag", "runner"),
    ),
    "jira": ("Jira", ("tickets", "agile"), ("issue", "sprint", "board", "epic", "comment")),
    "confluence": (
        "Confluence",
        ("wiki", "docs"),
        ("page", "space", "attachment", "blog post", "label"),
    ),
    "slack": ("Slack", ("chat",), ("channel", "message", "reminder", "user group", "bookmark")),
    "teams": ("Microsoft Teams", ("chat",), ("team", "chat", "meeting", "channel tab", "shift")),
    "gmail": ("Gmail", ("email",), ("email", "draft", "mail label", "mail filter", "thread")),
    "google-calendar": (
        "Google Calendar",
        ("calendar", "scheduling"),
        ("event", "calendar", "attendee", "reminder rule", "working location"),
    ),
    "google-drive": (
        "Google Drive",
        ("files", "storage"),
        ("file", "folder", "permission", "shared drive", "file revision"),
    ),
    "notion": (
        "Notion",
        ("wiki", "docs"),
        ("database", "page", "block", "workspace member", "template"),
    ),
    "salesforce": (
        "Salesforce",
        ("crm", "sales"),
        ("lead", "opportunity", "account", "contact", "campaign"),
    ),
    "hubspot": (
        "HubSpot",
        ("crm", "marketing"),
        ("deal", "company", "ticket", "marketing email", "form"),
    ),
    "zendesk": (
        "Zendesk",
        ("support",),
        ("support ticket", "macro", "help center article", "satisfaction rating", "agent"),
    ),
    "stripe": (
        "Stripe",
        ("payments", "billing"),
        ("payment", "refund", "customer", "subscription", "invoice"),
    ),
    "quickbooks": (
        "QuickBooks",
        ("accounting",),
        ("bill", "expense", "vendor", "journal entry", "tax rate"),
    ),
    "shopify": (
        "Shopify",
        ("commerce",),
        ("product", "order", "inventory level", "discount code", "fulfillment"),
    ),
    "aws-s3": (
        "Amazon S3",
        ("cloud", "storage"),
        ("bucket", "object", "lifecycle rule", "bucket policy", "presigned url"),
    ),
    "aws-ec2": (
        "Amazon EC2",
        ("cloud", "compute"),
        ("instance", "security group", "volume", "snapshot", "key pair"),
    ),
    "kubernetes": (
        "Kubernetes",
        ("cloud", "containers"),
        ("pod", "deployment", "service", "config map", "namespace"),
    ),
    "docker": (
        "Docker",
        ("containers",),
        ("container", "image", "network", "registry tag", "compose stack"),
    ),
    "datadog": (
        "Datadog",
        ("observability",),
        ("monitor", "dashboard", "metric query", "incident", "synthetic test"),
    ),
    "pagerduty": (
        "PagerDuty",
        ("on-call", "incidents"),
        ("incident", "on-call schedule", "escalation policy", "service", "maintenance window"),
    ),
    "sentry": (
        "Sentry",
        ("errors", "observability"),
        ("error event", "release", "alert rule", "project key", "issue assignment"),
    ),
    "postgres": (
        "PostgreSQL",
        ("database", "sql"),
        ("table", "row", "index", "database role", "query plan"),
    ),
    "snowflake": (
        "Snowflake",
        ("warehouse", "sql"),
        ("warehouse", "query", "stage", "data share", "task"),
    ),
    "bigquery": (
        "BigQuery",
        ("warehouse", "sql"),
        ("dataset", "table", "job", "view", "scheduled query"),
    ),
    "twilio": (
        "Twilio",
        ("sms", "voice"),
        ("sms message", "phone number", "call", "conversation", "verification"),
    ),
    "sendgrid": (
        "SendGrid",
        ("email", "marketing"),
        ("email campaign", "contact list", "email template", "suppression", "sender identity"),
    ),
    "zoom": (
        "Zoom",
        ("video", "meetings"),
        ("meeting", "webinar", "recording", "participant report", "room"),
    ),
    "calendly": (
        "Calendly",
        ("scheduling",),
        ("event type", "scheduled event", "invitee", "routing form", "availability schedule"),
    ),
    "asana": ("Asana", ("projects", "tasks"), ("task", "project", "section", "portfolio", "goal")),
    "trello": (
        "Trello",
        ("projects", "kanban"),
        ("card", "board", "list", "checklist", "power-up"),
    ),
    "figma": (
        "Figma",
        ("design",),
        ("design file", "comment", "component", "style", "frame export"),
    ),
    "workday": (
        "Workday",
        ("hr",),
        ("worker", "time off request", "job requisition", "payroll result", "organization"),
    ),
    "greenhouse": (
        "Greenhouse",
        ("recruiting", "hr"),
        ("candidate", "job posting", "interview", "offer", "scorecard"),
    ),
    "okta": ("Okta", ("identity",), ("user", "group", "application", "sign-on policy", "factor")),
    "onepassword": (
        "1Password",
        ("secrets",),
        ("vault", "item", "secret reference", "service account", "audit event"),
    ),
    "weather": (
        "the weather service",
        ("weather",),
        (
            "forecast",
            "current conditions",
            "weather alert",
            "historical observation",
            "air quality index",
        ),
    ),
    "maps": (
        "the maps service",
        ("geo",),
        ("route", "place", "geocode", "distance matrix", "time zone"),
    ),
    "translate": (
        "the translation service",
        ("language",),
        (
            "translation",
            "detected language",
            "glossary",
            "document translation",
            "supported language",
        ),
    ),
}
_VERBS: dict[str, str] = {
    "create": "Create a new {object} in {title}.",
    "get": "Fetch one {object} from {title} by its id, with all of its fields.",
    "list": "List the {object}s in {title}, newest first, page by page.",
    "update": "Change fields of an existing {object} in {title}.",
    "delete": "Permanently remove a {object} from {title}; this cannot be undone.",
}
_ARGUMENTS: dict[str, dict[str, Any]] = {
    "create": {"fields": {"type": "object"}},
    "get": {"id": {"type": "string"}},
    "list": {
        "query": {"type": "string"},
        "limit": {"type": "integer"},
        "cursor": {"type": "string"},
    },
    "update": {"id": {"type": "string"}, "fields": {"type": "object"}},
    "delete": {"id": {"type": "string"}, "confirm": {"type": "boolean"}},
}


def _tool(verb: str, obj: str, title: str) -> dict[str, Any]:
    properties = _ARGUMENTS[verb]
    return {
        "name": f"{verb}_{obj.replace(' ', '_').replace('-', '_')}",
        "description": _VERBS[verb].format(object=obj, title=title),
        "inputSchema": {
            "type": "object",
            "properties": properties,
            "required": [k for k in properties if k in ("id", "fields")],
        },
        "annotations": {"readOnlyHint": verb in ("get", "list")},
    }


def synthetic(
    copies: int = 1,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, tuple[str, ...]]]:
    """(tools per server, tags per server): 1,000 tools per copy; copy n > 0 of `github` is
    `github-n`."""
    servers: dict[str, list[dict[str, Any]]] = {}
    tags: dict[str, tuple[str, ...]] = {}
    for copy in range(copies):
        for service, (title, labels, objects) in _SERVICES.items():
            name = service if copy == 0 else f"{service}-{copy}"
            servers[name] = [_tool(verb, obj, title) for obj in objects for verb in _VERBS]
            tags[name] = labels
    return servers, tags


def quickstart() -> dict[str, list[dict[str, Any]]]:
    """The quickstart's four upstreams' tools, as they listed them (everything-sse is
    server-everything over SSE)."""
    loaded: dict[str, list[dict[str, Any]]] = json.loads(
        (DATA / "quickstart-tools.json").read_text()
    )
    return loaded
