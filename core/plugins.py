"""The plugin manager: loads every installed plugin once, dispatches per tenant.

Every installed plugin is registered at start-up; whether it is enabled for a
tenant is data (``PluginState``), read at use time, so enabling takes effect
without a restart.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy
from flask import current_app, g

from . import hookspecs
from .extensions import db
from .specs import EventSpec

log = logging.getLogger(__name__)

# The one place the entry-point group is named; docs and pyproject are
# checked against it by a test.
ENTRY_POINT_GROUP = "postwerk.plugins"
hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)


class PluginError(RuntimeError):
    """A plugin is broken in a way that must stop start-up."""


class UnknownEventError(LookupError):
    """No installed plugin declared this event."""


class PluginDisabledError(PermissionError):
    """The plugin that owns an event is not enabled for the tenant."""


@dataclass
class PluginInfo:
    name: str
    obj: Any
    version: str
    description: str
    essential: bool = False
    source: str = "entry point"
    events: list[EventSpec] = field(default_factory=list)
    migrations: str | None = None


class PluginRegistry:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.events: dict[str, tuple[EventSpec, str]] = {}
        self._subset_cache: dict[tuple[str, frozenset[str]], Any] = {}

    # -- loading -----------------------------------------------------------
    def register(self, name: str, obj: Any, *, version: str = "", essential: bool = False,
                 source: str = "entry point") -> None:
        if name in self.plugins:
            raise PluginError(f"two plugins are named {name!r}")
        if isinstance(obj, type):
            obj = obj()
        description = getattr(obj, "description", "") or (obj.__doc__ or "").strip().split("\n")[0]
        info = PluginInfo(name=name, obj=obj, version=version or getattr(obj, "version", ""),
                          description=description, essential=essential or getattr(obj, "essential", False),
                          source=source, migrations=getattr(obj, "migrations", None))
        self.pm.register(obj, name=name)
        self.plugins[name] = info

    def load_entry_points(self) -> None:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must be named, not hidden
                raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            version = ep.dist.version if ep.dist is not None else ""
            self.register(ep.name, obj, version=version)

    def finish_loading(self) -> None:
        """Check hook names and collect events; any mistake fails start-up."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc)) from exc
        for name, specs in self.call_each("postwerk_register_events"):
            for spec in specs or ():
                if not isinstance(spec, EventSpec):
                    raise PluginError(f"plugin {name!r} registered {spec!r}, not an EventSpec")
                if spec.key in self.events:
                    other = self.events[spec.key][1]
                    raise PluginError(f"event {spec.key!r} is declared by both {other!r} and {name!r}")
                self.events[spec.key] = (spec, name)
                self.plugins[name].events.append(spec)

    # -- use -----------------------------------------------------------------
    def event(self, key: str) -> tuple[EventSpec, str]:
        try:
            return self.events[key]
        except KeyError:
            raise UnknownEventError(f"no installed plugin declares the event {key!r}") from None

    def enabled_plugins(self, tenant_id: int) -> frozenset[str]:
        """Names of the plugins enabled for a tenant (essential ones always).

        Cached for the current app context only (one request, one job), so a
        change is seen by the next request or job in every process.
        """
        from .models import PluginState

        cache = g.setdefault("postwerk_enabled_plugins", {})
        if tenant_id not in cache:
            rows = db.session.execute(
                db.select(PluginState.plugin).where(PluginState.tenant_id == tenant_id, PluginState.enabled)
            ).scalars()
            enabled = {name for name in rows if name in self.plugins}
            enabled.update(n for n, p in self.plugins.items() if p.essential)
            cache[tenant_id] = frozenset(enabled)
        return cache[tenant_id]

    def forget_enabled(self, tenant_id: int) -> None:
        g.get("postwerk_enabled_plugins", {}).pop(tenant_id, None)

    def hook(self, name: str, tenant_id: int):
        """The hook caller for ``name`` restricted to the tenant's enabled plugins."""
        enabled = self.enabled_plugins(tenant_id)
        key = (name, enabled)
        caller = self._subset_cache.get(key)
        if caller is None:
            removed = [p.obj for n, p in self.plugins.items() if n not in enabled]
            caller = self.pm.subset_hook_caller(name, remove_plugins=removed)
            self._subset_cache[key] = caller
        return caller

    def call_each(self, name: str, tenant_id: int | None = None, **kwargs) -> list[tuple[str, Any]]:
        """Call a hook plugin by plugin and keep who answered what, for
        merges that must name the plugin at fault. ``tenant_id`` restricts the
        call to the plugins enabled for that tenant."""
        enabled = self.enabled_plugins(tenant_id) if tenant_id is not None else None
        answers = []
        # get_hookimpls() lists in registration order (pluggy calls them in
        # reverse); answers come back in plugin order, as the docs promise.
        for impl in getattr(self.pm.hook, name).get_hookimpls():
            if enabled is not None and impl.plugin_name not in enabled:
                continue
            answers.append((impl.plugin_name, impl.function(**kwargs)))
        return answers


def registry() -> PluginRegistry:
    return current_app.extensions["postwerk.plugins"]
