"""The Flask application factory: configuration, database, auth, errors, the OpenAPI document and blueprints."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.spec.plugins import integerconverter2paramschema
from werkzeug.routing import IntegerConverter

from api import errors, security
from api.auth import TokenCache, authenticate
from api.context import close_session, db
from api.jsonio import OrjsonProvider
from hubmatch import __version__
from hubmatch.jobs import JobRunner
from models.store import database_url, make_engine, migrate, session_factory

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns (PostgreSQL INTEGER)


class IdConverter(IntegerConverter):
    """``<int:...>`` path parameters are row ids: a value beyond any id is no route (404), not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class HubmatchApi(Api):
    """flask-smorest's Api with the service's error shape for every HTTP error."""

    ERROR_SCHEMA = errors.ErrorSchema

    def handle_http_exception(self, error):
        return errors.http_error(error)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the service. ``config`` may set DATABASE_URL (else the environment's, else SQLite in a file)."""
    app = Flask("hubmatch")
    app.json = OrjsonProvider(app)
    app.config.update(
        API_TITLE="hubmatch",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/docs/static/",
        API_SPEC_OPTIONS={
            "security": [{"bearer": []}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        },
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SYNC_SOLVE_SECONDS=30.0,
        MIGRATE=True,
        TOKEN_CACHE_SECONDS=TokenCache.DEFAULT_TTL_S,
    )
    app.config.update(config or {})
    url = database_url(app.config.get("DATABASE_URL"))
    if app.config["MIGRATE"]:
        migrate(url)
    engine = make_engine(url)
    app.extensions["hubmatch.engine"] = engine
    app.extensions["hubmatch.sessions"] = factory = session_factory(engine)
    app.extensions["hubmatch.jobs"] = runner = JobRunner(factory, url)
    app.extensions["hubmatch.tokens"] = TokenCache(float(app.config["TOKEN_CACHE_SECONDS"]))
    runner.recover()

    app.url_map.converters["int"] = IdConverter
    api = HubmatchApi(app)
    api.register_converter(IdConverter, integerconverter2paramschema)
    errors.register(app)
    _register(app, api)
    _swagger_assets(app)
    app.before_request(lambda: authenticate(db(), app.extensions["hubmatch.tokens"]))
    app.teardown_appcontext(close_session)
    security.register(app)
    logging.getLogger("hubmatch").setLevel(logging.INFO)
    return app


def _register(app: Flask, api: Api) -> None:
    from api import exports, hubs, meta, proposals, records, rounds

    for module in (meta, hubs, records, rounds, proposals, exports):
        for blueprint in module.BLUEPRINTS:
            api.register_blueprint(blueprint)
    from api.pages import ui

    app.register_blueprint(ui)  # the review page: HTML, not part of the OpenAPI document


def _swagger_assets(app: Flask) -> None:
    """Serve Swagger UI's files from the installed swagger-ui-bundle: the docs work with no network."""
    from swagger_ui_bundle import swagger_ui_path

    app.add_url_rule(
        "/docs/static/<path:filename>",
        "swagger_static",
        lambda filename: send_from_directory(swagger_ui_path, filename),
    )


__all__ = ["create_app"]
