"""The configuration reference (docs/configuration.md), generated from the pydantic models.

Every section of `Config` becomes a table of its keys with type, default, constraints and the
`Field(description=...)`; the section's docstring introduces it and the docstrings of its
validators state the rules they enforce. Nested sections (and models inside lists or mappings)
get their own tables, so a new section needs no change here. Run `make docs` to regenerate.
"""

from __future__ import annotations

import datetime as dt
import inspect
import sys
import types
import typing
from pathlib import Path

import annotated_types as at
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from churnhealth.config import Config

DOC = Path("docs/configuration.md")

INTRO = """\
# Configuration reference

<!-- Generated from src/churnhealth/config.py by `make docs`; edit the models, not this file. -->

Every command takes `--config PATH` (default `configs/default.yaml`, which spells out every
default). The file is a YAML mapping of the sections below; a key left out takes its default.
The whole file is checked before any work starts: an unknown key or a bad value stops the
command with one line per problem, naming the key, the value and what is allowed (exit code 2).
`MLFLOW_TRACKING_URI`, when set, overrides `mlflow.tracking_uri`.
"""

_BOUNDS = {
    at.Ge: ("ge", "≥ {}"),
    at.Gt: ("gt", "> {}"),
    at.Le: ("le", "≤ {}"),
    at.Lt: ("lt", "< {}"),
    at.MultipleOf: ("multiple_of", "multiple of {}"),
}
_SIMPLE = {
    int: "integer",
    float: "number",
    str: "text",
    bool: "boolean",
    Path: "path",
    dt.date: "date (YYYY-MM-DD)",
    dt.datetime: "timestamp",
    type(None): "null",
}


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The pydantic model a field holds, directly or as the items of a list or mapping."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def type_name(annotation: object) -> str:
    """A reader's name for a type: `list of text`, `one of auto, sigmoid`, `date or null`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"`{annotation.__name__}`"
    return _SIMPLE.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _yaml(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def default_text(field: FieldInfo) -> str:
    """The default as it would be written in the YAML file, or `required`."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see below"
    dumped = _dump(value)
    return f"`{_yaml(dumped)}`"


def _dump(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def constraints(field: FieldInfo, rules: list[str]) -> str:
    """Bounds and lengths from the field's metadata, then the rules of its own validators."""
    out = []
    for m in field.metadata:
        for kind, (attr, template) in _BOUNDS.items():
            if isinstance(m, kind):
                out.append(template.format(getattr(m, attr)))
        if isinstance(m, at.MinLen):
            out.append(f"at least {m.min_length} item{'s' * (m.min_length != 1)}")
        if isinstance(m, at.MaxLen):
            out.append(f"at most {m.max_length} items")
    return "; ".join(out + rules)


def _doc(func: object) -> str:
    return " ".join((inspect.getdoc(func) or "").split())


def _validator_rules(model: type[BaseModel]) -> tuple[dict[str, list[str]], list[str]]:
    """Docstrings of the field validators (per field) and of the model validators."""
    decorators = model.__pydantic_decorators__
    per_field: dict[str, list[str]] = {}
    for dec in decorators.field_validators.values():
        if rule := _doc(dec.func):
            for name in dec.info.fields:
                per_field.setdefault(name, []).append(rule)
    model_rules = [r for d in decorators.model_validators.values() if (r := _doc(d.func))]
    return per_field, model_rules


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section(
    model: type[BaseModel], key: str, entries: dict[type[BaseModel], list[str]], level: int = 2
) -> list[str]:
    """The Markdown of one section: heading, docstring, table, checks, then its subsections.

    `entries` collects the models held in lists or mappings (documented once, at the end)."""
    lines = [f"{'#' * level} `{key}`", ""]
    if intro := _doc(model):
        lines += [intro, ""]
    per_field, model_rules = _validator_rules(model)
    nested: list[tuple[str, type[BaseModel]]] = []
    rows = []
    for name, field in model.model_fields.items():
        sub = _model_in(field.annotation)
        if sub is not None and sub is field.annotation:
            nested.append((f"{key}.{name}", sub))
            rows.append(
                f"| `{name}` | section | see [`{key}.{name}`](#{_anchor(f'{key}.{name}')}) | | "
                f"{_cell(field.description or _doc(sub))} |"
            )
            continue
        kind = type_name(field.annotation)
        if sub is not None:
            entries.setdefault(sub, []).append(f"{key}.{name}")
            kind = kind.replace(
                f"`{sub.__name__}`", f"[`{sub.__name__}`](#{_anchor(sub.__name__)})"
            )
        cells = (
            f"`{name}`",
            kind,
            default_text(field),
            constraints(field, per_field.get(name, [])),
            field.description or "",
        )
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if rows:
        lines += ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
        lines += [*rows, ""]
    if model_rules:
        lines += ["Checks: " + " ".join(_sentence(r) for r in model_rules), ""]
    for sub_key, sub in nested:
        lines += section(sub, sub_key, entries, min(level + 1, 4))
    return lines


def _entry(
    model: type[BaseModel], used_in: list[str], entries: dict[type[BaseModel], list[str]]
) -> list[str]:
    """A model held in lists or mappings: its own table, under its class name."""
    where = ", ".join(f"`{k}`" for k in used_in)
    lines = section(model, model.__name__, entries, 3)
    return [lines[0], "", f"Each entry of {where}.", "", *lines[2:]]


def _sentence(text: str) -> str:
    return text if text.endswith(".") else f"{text}."


def _anchor(key: str) -> str:
    """GitHub's heading anchor for a heading that is just `key` in code."""
    return "".join(c for c in key.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def render(root: type[BaseModel] = Config) -> str:
    """The whole reference: the introduction, then one section per top-level field of `root`."""
    lines = [INTRO]
    contents = [f"- [`{name}`](#{_anchor(name)})" for name in root.model_fields]
    lines += ["Sections:", "", *contents, ""]
    entries: dict[type[BaseModel], list[str]] = {}
    for name, field in root.model_fields.items():
        model = _model_in(field.annotation)
        if model is None or model is not field.annotation:
            raise TypeError(f"{root.__name__}.{name}: top-level keys must be sections (models)")
        lines += section(model, name, entries)
    if entries:
        lines += ["## Entries", ""]
    done: set[type[BaseModel]] = set()
    while pending := [m for m in entries if m not in done]:
        for model in pending:
            lines += _entry(model, entries[model], entries)
            done.add(model)
    return "\n".join(lines).rstrip() + "\n"


def write(path: Path = DOC) -> Path:
    """Regenerate the reference at `path`."""
    path.write_text(render())
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else DOC))
