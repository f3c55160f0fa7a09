"""The Admin API (``/v1/organization/...``) and API key permissions (docs/admin.md):
``service.Admin`` (the use-cases), ``scopes`` (which scope each route needs),
``params`` (request bodies), ``objects`` (rows -> SDK types)."""
