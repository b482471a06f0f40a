"""Envoy at the edge: the snapshot builder (pure), the ADS server and the ext_authz service."""
