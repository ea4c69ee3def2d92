"""Outgoing mail: rendering, expansion of events, the queue and delivery."""
