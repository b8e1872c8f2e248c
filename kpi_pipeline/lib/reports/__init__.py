"""Report pages: Jinja2 templates under ``reports/`` rendered to self-contained HTML."""
