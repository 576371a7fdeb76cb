"""``hubmatch serve --prod``: the API under gunicorn, a production WSGI server."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from api.app import create_app

        return create_app()


def gunicorn(host: str, port: int, workers: int) -> int:
    """Serve with ``workers`` processes of 4 threads each; migrations run once before the workers fork."""
    from models.store import migrate

    migrate()
    _Gunicorn({"bind": f"{host}:{port}", "workers": workers, "threads": 4, "worker_class": "gthread",
               "timeout": 120, "accesslog": "-", "preload_app": False}).run()
    return 0
