"""Tool trust: what Giru checks and records about the tools upstream servers offer."""
