"""``portal serve``'s access line: uvicorn's, without colours, from the record as it is."""

from __future__ import annotations

import logging
import logging.config

import uvicorn.logging

from portal.web.access_log import AccessLine, log_config

ARGS = ("127.0.0.1:50000", "GET", "/api/v1/registrations/LS-2026-000001", "1.1", 200)


def _record(args: tuple[object, ...]) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                             '%s - "%s %s HTTP/%s" %d', args, None)


def test_the_line_is_uvicorn_s_without_colours() -> None:
    theirs = uvicorn.logging.AccessFormatter(
        '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    for args in (ARGS, (*ARGS[:4], 404), (*ARGS[:4], 599)):
        record = _record(args)
        assert AccessLine().format(record) == theirs.format(record)
    assert AccessLine().format(_record(ARGS)) \
        == 'INFO:     127.0.0.1:50000 - "GET /api/v1/registrations/LS-2026-000001 HTTP/1.1" 200 OK'


def test_the_config_puts_it_on_the_access_log_only() -> None:
    config = log_config()
    logging.config.dictConfig(config)
    try:
        handler = logging.getLogger("uvicorn.access").handlers[0]
        assert isinstance(handler.formatter, AccessLine)
        error_handler = logging.getLogger("uvicorn").handlers[0]
        assert isinstance(error_handler.formatter, uvicorn.logging.DefaultFormatter)
    finally:
        for name in ("uvicorn", "uvicorn.access"):
            logging.getLogger(name).handlers.clear()
