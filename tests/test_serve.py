"""``hubmatch serve --prod``'s gunicorn settings (the running server is exercised by tests/reliability)."""

from __future__ import annotations

import gc

from hubmatch.serve import freeze_startup_objects, options


def test_each_worker_freezes_what_it_loaded_before_serving() -> None:
    assert options("127.0.0.1", 8000, 2)["post_worker_init"] is freeze_startup_objects
    gc.unfreeze()
    try:
        kept = len(gc.get_objects())
        freeze_startup_objects(None)
        assert gc.get_freeze_count() > 0.9 * kept > 0  # all but the garbage it collects first
        assert len(gc.get_objects()) < kept / 10
    finally:
        gc.unfreeze()
