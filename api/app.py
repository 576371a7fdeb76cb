"""The Flask application factory: configuration, database, auth, errors, the OpenAPI document and blueprints."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.spec.plugins import integerconverter2paramschema
from werkzeug.routing import IntegerConverter

from api import errors, security
from api.auth import authenticate
from api.context import close_session
from api.jsonio import OrjsonProvider
from hubmatch import __version__
from models.store import database_url, make_engine, migrate, session_factory
from service.config import Settings
from service.jobs import JobQueue
from service.queue import SolveQueue

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
    """Build the service. ``config`` may set DATABASE_URL, BROKER_URL, QUEUE_NAME and SYNC_SOLVE_SECONDS; each
    defaults to its ``HUBMATCH_...`` variable (``service.config``). MIGRATE=False leaves the schema to whoever
    started the service (``hubmatch serve --prod`` migrates once before its workers fork)."""
    settings = Settings.from_env(database_url=(config or {}).get("DATABASE_URL"),
                                 broker_url=(config or {}).get("BROKER_URL"),
                                 queue_name=(config or {}).get("QUEUE_NAME"))
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
        SYNC_SOLVE_SECONDS=settings.sync_solve_s,
        MIGRATE=True,
    )
    app.config.update(config or {})
    url = database_url(settings.database_url)
    if app.config["MIGRATE"]:
        migrate(url)
    engine = make_engine(url, settings.lock_wait_s)
    app.extensions["hubmatch.engine"] = engine
    app.extensions["hubmatch.sessions"] = factory = session_factory(engine)
    app.extensions["hubmatch.jobs"] = JobQueue(factory, SolveQueue(settings.broker_url, settings.queue_name))

    app.url_map.converters["int"] = IdConverter
    api = HubmatchApi(app)
    api.register_converter(IdConverter, integerconverter2paramschema)
    errors.register(app)
    _register(app, api)
    _swagger_assets(app)
    app.before_request(authenticate)
    app.teardown_appcontext(close_session)
    security.register(app)
    logging.getLogger("hubmatch").setLevel(logging.INFO)
    return app


def _register(app: Flask, api: Api) -> None:
    from api import (
        audit,
        compare,
        exports,
        gaps,
        hubs,
        idle,
        meta,
        notifications,
        proposals,
        recommend,
        records,
        rounds,
        tokens,
    )

    for module in (meta, hubs, records, rounds, proposals, exports, tokens, audit, idle, compare, recommend,
                   notifications, gaps):
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
