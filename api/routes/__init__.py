"""HTTP routes, one module per resource; each route is thin over api/services."""
