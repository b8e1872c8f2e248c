"""Where the files shipped inside the package live (catalogues, rules, examples, the
report templates and their queries).

One place resolves them, from the installed package rather than a checkout, so that
moving a module never breaks the path to a data file and an installed wheel finds them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_path(*parts: str) -> Path:
    """The shipped file or folder ``kpi_pipeline/<parts...>``; every such file must be
    listed in ``[tool.setuptools.package-data]`` for a wheel to carry it."""
    return Path(str(resources.files("kpi_pipeline").joinpath(*parts)))


def data_file(name: str) -> Path:
    """The shipped file ``kpi_pipeline/data/<name>``."""
    return package_path("data", name)
