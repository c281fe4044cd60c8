"""Domain errors raised by services and turned into pages or problem documents by the web layer."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of errors a person can be told about."""


class FormErrors(DomainError):
    """Input broke one or more rules: field name -> message, in the order found."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass
