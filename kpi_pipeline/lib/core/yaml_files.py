"""The one way the pipeline reads YAML: PyYAML's safe loader, bounded.

YAML anchors (``&name``) and aliases (``*name``) let a few hundred bytes describe a
document of billions of nodes (the "billion laughs" file): PyYAML builds it cheaply, as
shared references, but whatever walks it afterwards (validation, an error message that
quotes the value) never finishes. Every file the pipeline reads (goals, accounts,
``exports.yaml``, the shipped catalogues, report front matter) goes through ``load_yaml``,
which refuses, before anything walks the document:

- a document that would have more than ``MAX_NODES`` nodes once every alias is expanded
  (the shipped catalogues have a few thousand; an alias used legitimately, such as
  ``<<: *defaults``, stays well inside the bound);
- an alias that refers to a node containing it (a cycle);
- nesting too deep for the parser;
- a file larger than ``MAX_BYTES``.

A date-shaped value that is not a calendar day (``2026-02-30``) is kept as text for the
model reading it to refuse, naming the field.

The refusal is a ``yaml.YAMLError`` (callers already handle those) whose message names the
source and the line of the document's start, never any value of the document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_NODES = 100_000
M = TypeVar("M")
MAX_BYTES = 5 * 1024 * 1024


class YamlRefused(yaml.MarkedYAMLError):
    """A YAML document refused before it was built (too large once expanded, a cycle)."""

    def __init__(self, source: str, problem: str, line: int | None = None) -> None:
        # A mark without its buffer: str() says where, never what the file holds there.
        mark = Mark(source, 0, line - 1, 0, None, None) if line else None
        super().__init__(problem=problem, problem_mark=mark)
        self.source = source


def expanded_size(node: Node, limit: int = MAX_NODES) -> int:
    """How many nodes ``node`` holds with every alias expanded (a shared node counts each
    time it is used); stops counting past ``limit``. Raises ``ValueError`` on a cycle."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(current: Node) -> int:
        key = id(current)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ValueError("cycle")
        open_nodes.add(key)
        total = 1
        if isinstance(current, SequenceNode):
            children: list[Node] = list(current.value)
        elif isinstance(current, MappingNode):
            children = [part for pair in current.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                break
        open_nodes.discard(key)
        sizes[key] = min(total, limit + 1)
        return sizes[key]

    return size(node)


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a document too large once its aliases are
    expanded, or with an alias inside itself, before constructing any Python value."""

    source = "YAML"

    def compose_document(self) -> Node:
        start = self.peek_event().start_mark if self.check_event() else None
        node = super().compose_document()
        line = start.line + 1 if start is not None else None
        try:
            count = expanded_size(node)
        except (ValueError, RecursionError):
            raise YamlRefused(self.source, "an alias refers to a node that contains it (a "
                              "cycle): aliases may only repeat a finished value",
                              line) from None
        if count > MAX_NODES:
            raise YamlRefused(self.source, f"expands to more than {MAX_NODES:,} values once "
                              "its aliases (*name) are repeated: refused (a file written to "
                              "exhaust memory?); write the values out or use fewer aliases",
                              line)
        return node


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A date-shaped scalar that is not a day of the calendar (2026-02-30) stays text, so
    the model that reads it names the field and the rule; PyYAML would raise a bare
    ValueError naming neither the file nor the line."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


BoundedSafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def load_yaml(text: str, source: str = "YAML") -> Any:
    """``yaml.safe_load`` with the bounds above; ``source`` names the file in refusals."""
    if len(text) > MAX_BYTES:
        raise YamlRefused(source, f"is larger than {MAX_BYTES // (1024 * 1024)} MB: refused")
    loader = BoundedSafeLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except RecursionError:
        raise YamlRefused(source, "is nested too deeply to read: refused") from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path | str, *, encoding: str = "utf-8") -> Any:
    """Read and parse one YAML file with ``load_yaml`` (refusals name the file)."""
    path = Path(path)
    if path.stat().st_size > MAX_BYTES:
        raise YamlRefused(str(path), f"is larger than {MAX_BYTES // (1024 * 1024)} MB: refused")
    return load_yaml(path.read_text(encoding=encoding), str(path))


def named_entries(entries: Mapping[str, Any], model: Callable[..., M],
                     noun: str) -> tuple[dict[str, M], list[str]]:
    """Each ``name: {fields}`` entry of a YAML mapping built as ``model(name=name, ...)``,
    and every entry that fails as ``"<noun> 'name': <why>"``: a file's mistakes are all
    reported at once (the KPI catalogue, the diagnostic and anomaly rules)."""
    from pydantic import ValidationError

    built, problems = {}, []
    for name, body in entries.items():
        try:
            built[name] = model(name=name, **(body or {}))
        except (ValidationError, TypeError) as exc:
            problems.append(f"{noun} {name!r}: {exc}")
    return built, problems
