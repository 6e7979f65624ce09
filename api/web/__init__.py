"""The web UI: Jinja2 templates and plain JavaScript modules, served by the API's app."""
