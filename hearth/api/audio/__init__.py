"""``client.audio`` routes."""
