"""The API's documentation page, ``/docs`` (Swagger UI), from packaged assets under a CSP.

FastAPI's own pages load their scripts from a CDN without an integrity hash and start them with
an inline script, so a CDN that served something else would run it on our origin, and no
Content-Security-Policy could stop it. Here the scripts are the ones the ``fastapi-offline``
package ships (served at ``/docs/assets/``), started by a script file of ours, and the page
sends a CSP that allows scripts and styles from this origin only. ReDoc (``/redoc``) is left
out: it writes inline styles and fetches its logo from a CDN.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["CSP", "install"]

ASSETS = "/docs/assets"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
"""Swagger UI: scripts and styles of this origin, the OpenAPI document and the API fetched from
it, nothing inline."""

HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-cache"}

SWAGGER_START = """\
"use strict";
// Starts Swagger UI on the OpenAPI document named by the page (no inline script: see the CSP).
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapi,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def _page(title: str, openapi: str, root: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title>'
            f'<link rel="stylesheet" href="{root}{ASSETS}/swagger-ui.css">'
            f'<link rel="icon" href="{root}{ASSETS}/favicon.png"></head>'
            f'<body><div id="swagger-ui" data-openapi="{escape(root + openapi)}"></div>'
            f'<script src="{root}{ASSETS}/swagger-ui-bundle.js"></script>'
            f'<script src="{root}/docs/start.js"></script></body></html>')


def install(app: FastAPI) -> None:
    """``/docs`` on ``app`` (made with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")),
              name="docs-assets")
    openapi = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(_page(f"{app.title} API", openapi, root),
                            headers={**HEADERS, "Content-Security-Policy": CSP})

    @app.get("/docs/start.js", include_in_schema=False)
    def swagger_start() -> Response:
        return Response(SWAGGER_START, media_type="text/javascript", headers=HEADERS)
