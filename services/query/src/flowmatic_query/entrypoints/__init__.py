"""The projector loop and the HTTP routes."""
