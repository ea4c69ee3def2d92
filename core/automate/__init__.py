"""AUTOMATE: the per-tenant task scheduler (mail worker, sweeper, retention,
and whatever plugins bring through ``postwerk_tasks``)."""
