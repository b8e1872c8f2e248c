"""Report pages: Jinja2 templates (``templates/``, shipped with the package) rendered to
self-contained HTML."""
