"""Blueprints. Views parse the request, call a service, and render or redirect."""
