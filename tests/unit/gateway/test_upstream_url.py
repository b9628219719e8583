"""The URL the proxy asks the backend for (gateway.proxy.upstream_url): the backend decodes exactly the path the
gateway decoded and authorized, and the query the client sent, whatever characters they hold."""

from __future__ import annotations

import pytest

from gateway.proxy import upstream_url

BASE = "http://127.0.0.1:8001"


@pytest.mark.parametrize("path", [
    "/api/v1/applications/ZW3201020000002026120700001",
    "/api/v1/applications/X%41Y",  # a literal "%41" (the client sent %2541): not an "A"
    "/api/v1/applications/X\nY",  # a plain string lost its line feed and tab to yarl's normalisation
    "/api/v1/applications/X\tY",
    "/api/v1/applications/X\r\nHost: evil",
    "/api/v1/applications/X Y",
    "/api/v1/applications/X?Y#Z",
    "/api/v1/applications/X%Y",
    "/api/v1/applications/./X/../Y",  # dot segments stay as they are (the authorizer refuses them before this)
    "/api/v1/catalogue/items/个体工商户",
    "/api/v1/applications/X;a=b,c@d:e!$&'()*+=",
])
def test_the_backend_decodes_the_path_the_gateway_authorized(path: str) -> None:
    url = upstream_url(BASE, path, "")
    assert url.path == path
    assert str(url).startswith(BASE + "/api/v1/")
    assert all(33 <= ord(c) < 127 for c in url.raw_path), url.raw_path  # nothing a request line cannot carry


@pytest.mark.parametrize(("query", "sent"), [
    ("region_code=320102000000&status=open", "region_code=320102000000&status=open"),
    ("q=a%2Bb%20c&x=%E4%B8%AD", "q=a%2Bb%20c&x=%E4%B8%AD"),  # the client's escapes as they were
    ("q=a+b", "q=a+b"),
    ("q=a b", "q=a%20b"),  # what a URL cannot carry is escaped
    ("q=\xe4", "q=%E4"),  # a raw byte (the query string is read as latin-1) stays that byte
])
def test_the_query_goes_as_the_client_encoded_it(query: str, sent: str) -> None:
    assert upstream_url(BASE, "/api/v1/approval/tasks", query).raw_query_string == sent
