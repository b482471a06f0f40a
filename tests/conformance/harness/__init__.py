"""Harnesses for `conformance client --command`: Giru in front of the suite's mock server."""
