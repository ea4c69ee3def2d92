"""AUTOMATE: the per-tenant task scheduler (mail worker, sweeper, retention,
and whatever plugins bring through ``postwerk_tasks``)."""

# The core's tables first: ``core.models`` imports AUTOMATE's own tables
# (``core.automate.models``), which need ``core.models.types``; importing
# ``core.automate.models`` before ``core.models`` would otherwise meet the
# package half-initialised.
from .. import models as _models  # noqa: F401
