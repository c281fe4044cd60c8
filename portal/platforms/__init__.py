"""Platforms and the people the portal writes to: API clients and their keys (``clients``),
webhook deliveries (``webhooks``), mail and in-app messages (``notify``)."""
