"""Livestream Registration Portal."""

__version__ = "0.1.0"
