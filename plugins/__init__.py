"""Postwerk's built-in plugins. Each is an ordinary plugin: core never imports them."""
