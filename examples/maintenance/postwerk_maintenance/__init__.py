"""Maintenance notices for the residents of a building."""
