"""Tickets: the ticket plugin of Postwerk (a built-in, ordinary plugin)."""
