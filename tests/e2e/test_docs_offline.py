"""The API documentation works on the production web server (gunicorn) with no internet: the
Swagger UI and ReDoc pages and every asset they load come from the web process itself."""

import re

import httpx
import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_and_their_assets_are_served_by_the_web_process(web, page):
    response = httpx.get(f"{web.url}{page}", timeout=10)
    assert response.status_code == 200
    assert not re.findall(r"""(?:https?:)?//[^\s"'<>)]+""", response.text)
    assets = [a for a in re.findall(r"""(?:src|href)=["']([^"']+)["']""", response.text)
              if a.startswith("/static/")]
    assert assets
    for asset in assets:
        served = httpx.get(f"{web.url}{asset}", timeout=10)
        assert served.status_code == 200, asset
        assert len(served.content) > 100, asset
    schema = httpx.get(f"{web.url}/api/schema/", timeout=10)
    assert schema.headers["content-type"].startswith("application/json")


def test_the_admin_stylesheets_are_served_too(web):
    css = httpx.get(f"{web.url}/static/workflows/admin.css", timeout=10)
    assert css.status_code == 200 and "weft-nowrap" in css.text
