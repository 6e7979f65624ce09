"""Service functions behind the HTTP routes and the CLI; routes and commands stay thin."""
