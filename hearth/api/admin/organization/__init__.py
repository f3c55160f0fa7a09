"""``client.admin.organization.*`` routes."""
