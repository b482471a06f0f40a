"""An MCP server (Python SDK, stdio) with tools a compliance policy cares about, for the
governance tests: `python regulated.py stdio`.

Tools: charge_card (payments), card_on_file (answers a stored card number, in text and
structured content), patient_records (PHI: record_count and fields), export_ledger (highly
sensitive), echo. Tags and sensitivity come from the MCPServer manifest, as in production.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

server = MCPServer("regulated-test", version="1.0.0")
CARD = "4111 1111 1111 1111"


class CardOnFile(BaseModel):
    customer: str
    card: str
    note: str


@server.tool()
def charge_card(card: str, amount: float) -> str:
    """Charge a card."""
    return f"charged {amount:.2f}"


@server.tool()
def card_on_file(customer: str) -> CardOnFile:
    """The card a customer stored."""
    return CardOnFile(customer=customer, card=CARD, note=f"card {CARD} expires 12/30")


@server.tool()
def patient_records(record_count: int, fields: list[str]) -> str:
    """Read patient records."""
    return f"{record_count} records with {', '.join(fields)}"


@server.tool()
def export_ledger() -> str:
    """Export the general ledger."""
    return "ledger exported"


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    if sys.argv[1:] != ["stdio"]:
        raise SystemExit("usage: regulated.py stdio")
    server.run("stdio")
