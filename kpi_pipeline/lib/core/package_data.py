"""Where the files shipped inside the package live (catalogues, rules, examples).

One place resolves them, from the installed package rather than a checkout, so that
moving a module never breaks the path to a data file and an installed wheel finds them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_file(name: str) -> Path:
    """The shipped file ``kpi_pipeline/data/<name>``."""
    return Path(str(resources.files("kpi_pipeline").joinpath("data", name)))
