"""The plugin manager: loads every installed plugin once, dispatches per tenant.

Every installed plugin is registered at start-up; whether it is enabled for a
tenant is data (``PluginState``), read at use time, so enabling takes effect
without a restart.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
from flask import current_app, g

from . import hookspecs
from .extensions import db
from .specs import EventSpec
from .models import PluginState

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


@dataclass(frozen=True)
class HookFailure:
    """One plugin's hook raised: who, where, what (shown to the admin)."""

    plugin: str
    hook: str
    error: str

    def __str__(self) -> str:
        return f"plugin '{self.plugin}' failed in {self.hook}: {self.error}"

    def as_dict(self) -> dict[str, str]:
        return {"plugin": self.plugin, "hook": self.hook, "error": self.error}


class PluginBrokenError(PluginDisabledError):
    """The plugin that owns an event was set aside as broken at start-up."""


class PluginHookError(PluginError):
    """A plugin's hook raised where the caller keeps no list of failures."""

    def __init__(self, failure: HookFailure):
        super().__init__(str(failure))
        self.failure = failure


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


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
    #: Why the plugin was set aside at start-up ("" when it works).
    broken: str = ""
    #: What it should change but that still works: an implemented hook
    #: that is deprecated (pluggy's ``warn_on_impl``), in pluggy's words.
    warnings: list[str] = field(default_factory=list)


class PluginRegistry:
    def __init__(self, *, strict: bool = False) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.events: dict[str, tuple[EventSpec, str]] = {}
        # Events of plugins set aside: refused with the reason.
        self.refused: dict[str, str] = {}
        # POSTWERK_STRICT_PLUGINS: a broken plugin stops start-up (tests, CI).
        self.strict = strict
        self._subset_cache: dict[tuple[str, frozenset[str]], Any] = {}

    def catalogues(self) -> list[tuple[str, str]]:
        """(folder, Babel domain) of every working plugin that ships its own
        message catalogue (``Plugin.translations``), in plugin-name order."""
        found = []
        for _name, info in sorted(self.plugins.items()):
            if info.broken or info.obj is None or not getattr(info.obj, "translations", None):
                continue
            found.append((str(Path(info.obj.translations).resolve()), translation_domain(info.obj)))
        return found

    def broken(self) -> dict[str, str]:
        """Plugins set aside at start-up, with the reason."""
        return {name: info.broken for name, info in self.plugins.items() if info.broken}

    def set_aside(self, name: str, reason: str) -> None:
        """Mark a plugin broken: it is unregistered (no hook reaches it), its
        events are refused, everything else goes on. Strict mode raises."""
        if self.strict:
            raise PluginError(f"plugin '{name}' is broken: {reason}")
        log.error("plugin '%s' is set aside as broken: %s", name, reason)
        info = self.plugins[name]
        info.broken = info.broken or reason
        if self.pm.is_registered(info.obj):
            self.pm.unregister(info.obj)
        for spec in info.events:
            if self.events.get(spec.key, (None, None))[1] == name:
                del self.events[spec.key]
            if spec.key not in self.events:
                self.refused.setdefault(spec.key, name)
        self._subset_cache.clear()

    # -- loading -----------------------------------------------------------
    def register(
        self, name: str, obj: Any, *, version: str = "", essential: bool = False, source: str = "entry point"
    ) -> None:
        if name in self.plugins:
            raise PluginError(f"two plugins are named {name!r}")
        if isinstance(obj, type):
            obj = obj()
        description = getattr(obj, "description", "") or (obj.__doc__ or "").strip().split("\n")[0]
        info = PluginInfo(
            name=name,
            obj=obj,
            version=version or getattr(obj, "version", ""),
            description=description,
            essential=essential or getattr(obj, "essential", False),
            source=source,
            migrations=getattr(obj, "migrations", None),
        )
        self.plugins[name] = info
        self._subset_cache.clear()
        problem = (
            _incompatible(
                "requires_postwerk", getattr(obj, "requires_postwerk", "") or "", postwerk_version(), "Postwerk"
            )
            or _incompatible(
                "requires_hook_api", getattr(obj, "requires_hook_api", "") or "", hookspecs.HOOK_API_VERSION, "hook API"
            )
            or _catalogue_problem(obj)
        )
        if problem:
            self.set_aside(name, problem)
            return
        try:
            # pluggy warns about an implemented deprecated hook (its spec's
            # warn_on_impl) here: kept with the plugin and logged, so the
            # plugins page and `postwerk plugins check` can show it.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self.pm.register(obj, name=name)
        except pluggy.PluginValidationError as exc:
            # pluggy's words name the object's repr; ours name the plugin.
            self.set_aside(name, _validation_reason(exc))
            return
        for warning in caught:
            text = f"{warning.category.__name__}: {warning.message}"
            info.warnings.append(text)
            log.warning("plugin '%s': %s", name, text)

    def load_entry_points(self, *, skip: frozenset[str] = frozenset()) -> None:
        """Register every installed plugin; names in ``skip`` are left out
        (a test registers its own object under that name)."""
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in skip:
                continue
            version = ep.dist.version if ep.dist is not None else ""
            try:
                obj = ep.load()
                if isinstance(obj, type):
                    obj = obj()
            except Exception as exc:  # a broken plugin is named and set aside, never the installation
                if ep.name in self.plugins:
                    raise PluginError(f"two plugins are named {ep.name!r}") from exc
                self.plugins[ep.name] = PluginInfo(name=ep.name, obj=None, version=version, description=ep.value)
                self.set_aside(ep.name, f"cannot be loaded ({ep.value}): {describe(exc)}")
                continue
            self.register(ep.name, obj, version=version)

    def finish_loading(self) -> None:
        """Check hook names and collect events; a plugin with a mistake is set
        aside with the reason (in strict mode, start-up fails)."""
        failures: list[HookFailure] = []
        answers = self.call_each("postwerk_register_events", failures=failures)
        for failure in failures:
            self.set_aside(failure.plugin, f"postwerk_register_events raised {failure.error}")
        for name, specs in answers:
            specs = list(specs or ())
            wrong = next((spec for spec in specs if not isinstance(spec, EventSpec)), None)
            taken = next((spec.key for spec in specs if isinstance(spec, EventSpec) and spec.key in self.events), None)
            if wrong is not None:
                self.set_aside(name, f"postwerk_register_events returned {wrong!r}, not a core.api.EventSpec")
            elif taken is not None:
                self.plugins[name].events.extend(specs)
                self.set_aside(
                    name,
                    f"declares the event {taken!r}, which the plugin "
                    f"'{self.events[taken][1]}' declares too (event keys are global)",
                )
            elif len({spec.key for spec in specs}) < len(specs):
                self.plugins[name].events.extend(specs)
                self.set_aside(name, "declares one event key twice")
            else:
                for spec in specs:
                    self.events[spec.key] = (spec, name)
                    self.plugins[name].events.append(spec)
        # After the events are known, so that a plugin set aside here has
        # its events refused with the reason, not reported unknown.
        for name, info in list(self.plugins.items()):
            if not info.broken:
                problem = self._hook_problem(info.obj)
                if problem:
                    self.set_aside(name, problem)

    def _hook_problem(self, obj: Any) -> str:
        """A misspelled hook, decorated or not (as pytest reports them)."""
        for caller in self.pm.get_hookcallers(obj) or ():
            if not caller.has_spec() and not any(i.optionalhook for i in caller.get_hookimpls() if i.plugin is obj):
                return f"{caller.name} is not a Postwerk hook (misspelled?)"
        for attr in dir(obj):
            if (
                attr.startswith("postwerk_")
                and callable(getattr(obj, attr, None))
                and self.pm.parse_hookimpl_opts(obj, attr) is None
            ):
                known = hasattr(self.pm.hook, attr)
                return (
                    f"{attr} is not marked @hookimpl, so it would never be called"
                    if known
                    else f"{attr} is not a Postwerk hook (misspelled?) and not marked @hookimpl"
                )
        return ""

    # -- use -----------------------------------------------------------------
    def event(self, key: str) -> tuple[EventSpec, str]:
        try:
            return self.events[key]
        except KeyError:
            if key in self.refused:
                owner = self.refused[key]
                raise PluginBrokenError(
                    f"the plugin '{owner}' is broken ({self.plugins[owner].broken}), so {key} is not accepted"
                ) from None
            raise UnknownEventError(f"no installed plugin declares the event {key!r}") from None

    def enabled_plugins(self, tenant_id: int) -> frozenset[str]:
        """Names of the plugins enabled for a tenant (essential ones always).

        Cached for the current app context only (one request, one job), so a
        change is seen by the next request or job in every process.
        """
        cache = g.setdefault("postwerk_enabled_plugins", {})
        if tenant_id not in cache:
            rows = db.session.execute(
                db.select(PluginState.plugin).where(PluginState.tenant_id == tenant_id, PluginState.enabled)
            ).scalars()
            enabled = {name for name in rows if name in self.plugins and not self.plugins[name].broken}
            enabled.update(n for n, p in self.plugins.items() if p.essential and not p.broken)
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
            removed = [p.obj for n, p in self.plugins.items() if n not in enabled and not p.broken]
            caller = self.pm.subset_hook_caller(name, remove_plugins=removed)
            self._subset_cache[key] = caller
        return caller

    def _one_plugin(self, name: str, plugin: str, enabled: frozenset[str] | None):
        """The hook caller for ``name`` that calls ``plugin``'s hookimpl and
        no other plugin's (wrappers of enabled plugins still wrap it).

        A pluggy subset caller, so pluggy's calling contract holds: a
        hookimpl may take a subset of the spec's arguments, wrappers run and
        ``add_hookcall_monitoring`` sees the call."""
        key = (name, plugin, enabled)
        caller = self._subset_cache.get(key)
        if caller is None:
            wrappers = {
                i.plugin_name for i in getattr(self.pm.hook, name).get_hookimpls() if i.hookwrapper or i.wrapper
            }
            removed = [
                p.obj
                for n, p in self.plugins.items()
                if n != plugin and not p.broken and (n not in wrappers or (enabled is not None and n not in enabled))
            ]
            caller = self.pm.subset_hook_caller(name, remove_plugins=removed)
            self._subset_cache[key] = caller
        return caller

    def implementers(self, name: str, tenant_id: int | None) -> list[str]:
        """Plugins with a (non-wrapper) hookimpl of ``name``, in registration order."""
        return [plugin for plugin, _caller in self._callers(name, tenant_id)]

    def _callers(self, name: str, tenant_id: int | None) -> list[tuple[str, Any]]:
        """(plugin, its one-plugin caller) for each implementer of ``name``
        the tenant has enabled, in registration order. Cached per enabled
        set like the callers themselves: a hook called plugin by plugin for
        every event must not list and filter the hookimpls each time."""
        enabled = self.enabled_plugins(tenant_id) if tenant_id is not None else None
        key = ("each", name, enabled)
        pairs = self._subset_cache.get(key)
        if pairs is None:
            pairs = [
                (i.plugin_name, self._one_plugin(name, i.plugin_name, enabled))
                for i in getattr(self.pm.hook, name).get_hookimpls()
                if not (i.hookwrapper or i.wrapper) and (enabled is None or i.plugin_name in enabled)
            ]
            self._subset_cache[key] = pairs
        return pairs

    def call_one(
        self, name: str, plugin: str, tenant_id: int | None, failures: list[HookFailure] | None, kwargs: dict
    ) -> tuple[bool, Any]:
        enabled = self.enabled_plugins(tenant_id) if tenant_id is not None else None
        return self._guarded(name, plugin, self._one_plugin(name, plugin, enabled), failures, kwargs)

    @staticmethod
    def _guarded(name: str, plugin: str, caller, failures: list[HookFailure] | None, kwargs: dict) -> tuple[bool, Any]:
        """(True, answer), or (False, None) with the failure recorded."""
        try:
            return True, caller(**kwargs)
        except Exception as exc:  # a faulty plugin fails alone (DESIGN.md, invariant 7)
            failure = HookFailure(plugin, name, describe(exc))
            log.exception("%s", failure)
            if failures is None:
                raise PluginHookError(failure) from exc
            failures.append(failure)
            return False, None

    def call_each(
        self, name: str, tenant_id: int | None = None, *, failures: list[HookFailure] | None = None, **kwargs
    ) -> list[tuple[str, Any]]:
        """Call a hook plugin by plugin and keep who answered what, for
        merges that must name the plugin at fault. ``tenant_id`` restricts the
        call to the plugins enabled for that tenant.

        A plugin whose hook raises is left out: its failure (plugin, hook,
        error) is appended to ``failures`` and the other plugins are called
        all the same. Without a ``failures`` list the first failure raises
        ``PluginHookError``, which names the plugin."""
        answers = []
        # get_hookimpls() lists in registration order (pluggy calls them in
        # reverse); answers come back in plugin order, as the docs promise.
        for plugin, caller in self._callers(name, tenant_id):
            ok, result = self._guarded(name, plugin, caller, failures, kwargs)
            if ok:
                answers.append((plugin, result[0] if result else None))
        return answers

    def call_first(
        self, name: str, tenant_id: int | None = None, *, failures: list[HookFailure] | None = None, **kwargs
    ) -> Any:
        """Call a ``firstresult`` hook plugin by plugin in pluggy's calling
        order (last registered first, ``tryfirst``/``trylast`` honoured) and
        return the first answer that is not ``None``; a plugin that raises is
        recorded in ``failures`` and the next one asked."""
        for plugin, caller in reversed(self._callers(name, tenant_id)):
            ok, result = self._guarded(name, plugin, caller, failures, kwargs)
            if ok and result is not None:
                return result
        return None


def postwerk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("postwerk")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


def translation_domain(obj: Any) -> str:
    """A plugin's Babel domain: ``Plugin.translation_domain``, else the name
    of the package its class lives in: ``postwerk_maintenance`` for
    ``postwerk_maintenance.plugin``, ``ticket`` for ``plugins.ticket.plugin``."""
    module = type(obj).__module__
    return (
        getattr(obj, "translation_domain", "") or (module.rsplit(".", 1)[0] if "." in module else module).split(".")[-1]
    )


def _catalogue_problem(obj: Any) -> str:
    """Why a plugin's ``translations`` folder cannot be used, or "": a
    misspelt path would otherwise leave its pages English without a word."""
    folder = getattr(obj, "translations", None)
    if not folder:
        return ""
    path = Path(folder)
    if not path.is_dir():
        return f"translations {str(folder)!r} is not a folder"
    domain = translation_domain(obj)
    if not any(path.glob(f"*/LC_MESSAGES/{domain}.mo")):
        return (
            f"translations {str(folder)!r} has no compiled catalogue */LC_MESSAGES/{domain}.mo "
            f"(run scripts/translations.py --plugin, or pybabel compile -D {domain})"
        )
    return ""


def _incompatible(attribute: str, requires: str, have: str, what: str) -> str:
    """Why a plugin's ``requires_postwerk`` / ``requires_hook_api`` rules
    this installation out, or ""."""
    if not requires:
        return ""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        wanted = SpecifierSet(requires)
    except InvalidSpecifier:
        return f"{attribute} {requires!r} is not a version specifier (e.g. '>=0.1,<1')"
    if not wanted.contains(have, prereleases=True):
        needs = "supports Postwerk" if what == "Postwerk" else f"needs the {what}"
        return f"it {needs} {requires}, and this is {what} {have}"
    return ""


def _validation_reason(exc: pluggy.PluginValidationError) -> str:
    """pluggy's message without the plugin object's repr."""
    text = str(exc)
    _, sep, rest = text.partition("\n")
    return (rest.strip() if sep else text).replace("\n", " ")


def installed_fingerprint() -> tuple:
    """The installed plugins as (name, value, version) triples: what a
    process compares to notice a ``pip install``, upgrade or uninstall."""
    import importlib

    importlib.invalidate_caches()
    return tuple(
        sorted(
            (ep.name, ep.value, ep.dist.version if ep.dist is not None else "")
            for ep in entry_points(group=ENTRY_POINT_GROUP)
        )
    )


def registry() -> PluginRegistry:
    return current_app.extensions["postwerk.plugins"]
