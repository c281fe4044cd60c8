"""Every route of the app (the route table of test_route_matrix), as an actor who may use it,
gets hostile input: control characters, numbers no column holds, deep JSON and bodies of odd
content types in its path, query string and body. Nothing answers 500, on SQLite and (with
PORTAL_TEST_DATABASE_URL) on PostgreSQL, which refuses NUL in text."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.api import core
from tests.unit import test_route_matrix as matrix
from tests.unit.test_route_matrix import (
    ACTORS,
    FORMS,
    LAST,
    LOGIN,
    MATRIX,
    PARAM,
    PEOPLE,
    AppRoute,
    World,
    app_routes,
    csrf,
    fill,
)

# The route matrix's world: its settings and its registration, staff, keys and records.
settings = matrix.settings
world = matrix.world

EXAMPLES_PER_ROUTE = 6
CONTROL = ["\x00", "LR-2026-\x00", "a\x00b", "\x01\x1f", "\x7f", "\r\n", "\t", "\x1b[2J"]
NUMBERS = ["9" * 30, str(2**63), str(-(2**63) - 1), str(2**31), "1e400", "NaN", "-1", "0",
           "9" * 5000, "1.5", "０１"]
ODD = ["", "%00", "../..", "\u202egnp.exe", "🙂", "<script>", "' OR 1=1 --", "null"]
VALUES = st.one_of(
    st.sampled_from(CONTROL + NUMBERS + ODD),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
)
JSON_BODIES = [b"[" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"1e400", b"NaN",
               b'{"numbers":[' + b"9" * 5000 + b"]}", b'{"numbers":[18446744073709551616]}',
               b'{"x":"\\u0000"}', b'{"numbers":["LR\\u0000"]}', b"\xff\xfe\x00", b"",
               b'{"buyer_ref":"\\ud800","reason":"x"}', b'"\\u0000"', b"[]"]
CONTENT_TYPES = ["text/plain", "application/json", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/xml", "",
                 "application/json; charset=latin-1", "multipart/form-data"]


def _actor(route: AppRoute) -> str:
    """Someone the route serves (not a login redirect or a refusal), a visitor otherwise."""
    expected = MATRIX.get(route.name, {})
    api = route.path.startswith("/api/")
    for actor in ACTORS:
        if (actor in PEOPLE) == api:
            continue
        if expected.get(actor) not in (LOGIN, 401, 403, None):
            return actor
    return ACTORS[0]


@st.composite
def requests(draw: st.DrawFn, route: AppRoute, values: dict[str, str]) -> dict[str, Any]:
    """One hostile request to ``route``: a bad path value, query or body, or all three."""
    names = PARAM.findall(route.path)
    path = fill(route, values)
    if names and draw(st.booleans()):
        hostile = {name: quote(draw(VALUES), safe="") or "x" for name in names}
        path = PARAM.sub(lambda m: hostile[m.group(1)], route.path)
    query = draw(st.dictionaries(st.sampled_from(["q", "page", "per_page", "status", "after",
                                                   "limit", "start", "end", "next", "cursor",
                                                   "number", "\x00"]),
                                 VALUES, max_size=3))
    if query:
        path += ("&" if "?" in path else "?") + urlencode(query)
    request: dict[str, Any] = {"method": route.method, "url": path}
    if route.method in ("GET", "DELETE"):
        return request
    kind = draw(st.sampled_from(["form", "raw"]))
    if kind == "form" and not route.path.startswith("/api/"):
        fields = {name: draw(VALUES) for name in FORMS.get(route.name, {})}
        fields.update(draw(st.dictionaries(st.sampled_from(
            ["email", "password", "q", "reason", "text", "number", "version", "page", "until",
             "duration_days", "_field", "\x00"]), VALUES, max_size=3)))
        request["data"] = {**fields, "csrf_token": values["csrf_token"]}
    else:
        request["content"] = draw(st.sampled_from(JSON_BODIES))
        request["headers"] = {"content-type": draw(st.sampled_from(CONTENT_TYPES))}
    return request


def _body_fields(route: AppRoute) -> list[str]:
    """The JSON body's fields of an API operation (its model), none for other routes."""
    for op in core.OPERATIONS:
        if core.PREFIX + op.path == route.path and op.method == route.method and op.body:
            return list(op.body.model_fields)
    return []


def fixed_requests(route: AppRoute, values: dict[str, str]) -> list[dict[str, Any]]:
    """What every route gets, besides the generated requests: NUL and a number beyond 2^63
    in each path value, in the query string and in each field of its body; JSON nested
    100,000 deep; JSON sent as text/plain."""
    path = fill(route, values)
    sep = "&" if "?" in path else "?"
    out: list[dict[str, Any]] = []
    for bad in ("\x00", str(2**64), "9" * 5000):
        for name in PARAM.findall(route.path):
            url = PARAM.sub(lambda m, n=name, b=bad: quote(b, safe="") if m.group(1) == n
                            else values[m.group(1)], route.path)
            out.append({"method": route.method, "url": url})
        query = {"q": bad, "page": bad, "per_page": bad, "after": bad, "limit": bad,
                 "status": bad, "start": bad, "end": bad, "cursor": bad, "number": bad}
        out.append({"method": route.method, "url": path + sep + urlencode(query)})
        if route.method in ("GET", "DELETE"):
            continue
        if route.path.startswith("/api/"):
            body = {name: bad for name in _body_fields(route)}
            out.append({"method": route.method, "url": path, "json": body})
            out.append({"method": route.method, "url": path,
                        "json": {name: [bad] for name in body} or [bad]})
        else:
            fields = {name: bad for name in FORMS.get(route.name, {})}
            fields.update(dict.fromkeys(("email", "password", "q", "reason", "text", "number",
                                         "version", "page", "until", "duration_days"), bad))
            out.append({"method": route.method, "url": path,
                        "data": {**fields, "csrf_token": values["csrf_token"]}})
    if route.method not in ("GET", "DELETE"):
        out.append({"method": route.method, "url": path, "content": b"[" * 100_000,
                    "headers": {"content-type": "application/json"}})
        out.append({"method": route.method, "url": path, "content": b'{"a":"\\u0000"}',
                    "headers": {"content-type": "text/plain"}})
    return out


def _fuzz(client: TestClient, route: AppRoute, values: dict[str, str]) -> list[str]:
    failures: list[str] = []

    def send(request: dict[str, Any]) -> None:
        try:  # the test client raises what the server did not handle: that is a 500 too
            status: int | str = client.request(**request).status_code
        except Exception as exc:
            status = f"500 ({type(exc).__name__}: {str(exc)[:80]})"
        if not isinstance(status, int) or status >= 500:
            failures.append(f"{route.name}: {request['method']} {request['url'][:120]!r} "
                            f"{request.get('headers', '')} {str(request.get('data', ''))[:80]}"
                            f"{str(request.get('json', ''))[:80]}"
                            f"{request.get('content', b'')[:40]!r} -> {status}")

    for request in fixed_requests(route, values):
        send(request)

    @hyp_settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(request=requests(route, values))
    def run(request: dict[str, Any]) -> None:
        send(request)

    run()
    return failures


def test_no_route_answers_500_to_hostile_input(app, world: World) -> None:  # type: ignore[no-untyped-def]
    routes = sorted(app_routes(app.router.routes), key=lambda r: r.name in LAST)
    assert len(routes) > 100
    tokens = {actor: csrf(c) for actor, c in world.clients.items()}
    failures: list[str] = []
    for route in routes:
        actor = _actor(route)
        values = {**world.values, "csrf_token": tokens[actor]}
        failures += _fuzz(world.clients[actor], route, values)
    assert not failures, "\n".join(failures)
