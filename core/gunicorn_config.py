"""gunicorn settings for Postwerk's web process:
``gunicorn --config python:core.gunicorn_config 'postwerk:create_app()'``.

Only what Postwerk needs; anything else (workers, bind, timeouts) goes on
gunicorn's command line as usual.
"""

from __future__ import annotations

import os
import signal


def child_exit(server, worker) -> None:
    """A gunicorn worker that ends leaves its metric files to the live ones
    (prometheus-client's multiprocess mode, see docs/operations.md)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def when_ready(server) -> None:
    """The master watches the installed plugins (core.plugin_reload): after
    a ``pip install``, upgrade or uninstall of a plugin it runs the
    migrations and reloads itself with SIGHUP -- new workers load the
    application afresh, the old ones finish their requests first (gunicorn's
    graceful reload; without ``--preload``, so the master never imports a
    plugin). POSTWERK_PLUGIN_RELOAD=0 turns it off."""
    # gunicorn loads this file in the master, which must stay light and
    # import no plugin: the core's modules are imported when the hook runs.
    from .config import from_environment

    config = from_environment()
    if str(config.get("PLUGIN_RELOAD", "1")).strip().lower() not in ("1", "true", "yes", "on"):
        return
    if server.cfg.preload_app:
        server.log.warning("plugins are not reloaded: with --preload the master holds the old application")
        return
    from redis import Redis

    # Only now, after the checks above (see the comment at the top of this hook).
    from .plugin_reload import PluginWatch, describe_change, migrate

    def reload(before: tuple, after: tuple) -> None:
        server.log.warning(
            "plugins changed (%s): migrating and reloading the web workers", describe_change(before, after)
        )
        if migrate(Redis.from_url(config["REDIS_URL"]), config.get("QUEUE_PREFIX", "postwerk"), before, after):
            os.kill(os.getpid(), signal.SIGHUP)

    PluginWatch(reload).start()
