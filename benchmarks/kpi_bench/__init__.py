"""The parts of ``benchmarks/kpi_benchmark.py``, one module per purpose.

``kpi_benchmark.py`` stays the one command people run (its docstring says what it
measures and why); these modules are what it is made of: ``datasets`` and ``goals``
make the synthetic store, ``floor`` and ``steps`` are what gets timed, ``worker`` runs
one step in a subprocess, ``harness`` spawns and measures them, ``report`` prints.
"""
