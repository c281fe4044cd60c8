"""The server's access line, written for less than uvicorn's own formatter costs.

uvicorn's ``AccessFormatter`` copies each record and looks up colours before it writes
``INFO:     127.0.0.1:50000 - "GET /path HTTP/1.1" 200 OK``; at thousands of verification reads a
second that was a tenth of the server's time (bench/api.py, profiled with py-spy). ``AccessLine``
writes the same line from the record as it is. ``log_config`` is uvicorn's logging set-up with it
in place of uvicorn's (``portal serve``); the query string is kept out by ``portal.app``'s filter
either way.
"""

from __future__ import annotations

import copy
import http
import logging
from typing import Any

import uvicorn.config

_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}


class AccessLine(logging.Formatter):
    """``LEVEL:    client - "METHOD path HTTP/version" status phrase``, as uvicorn writes it
    without colours."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        status = args[4] if isinstance(args, tuple) and len(args) == 5 else None
        phrase = _PHRASES.get(status, "") if isinstance(status, int) else ""
        prefix = f"{record.levelname}:".ljust(9)
        line = f"{prefix} {record.getMessage()} {phrase}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with ``AccessLine`` for the access log."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["access"] = {"()": f"{__name__}.AccessLine"}
    return config
