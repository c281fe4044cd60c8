"""JSON routes: the platform and authority API under /api/v1, and /healthz."""
