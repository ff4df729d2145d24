"""One configuration loader for every egraff command: a file (YAML, TOML or JSON), then ``key=value``
overrides, checked against a typed schema; any mistake becomes one :class:`ConfigError` sentence that
names the key, the bad value and what is expected.

``egraff train config.yaml optim.lr=1e-3``, ``egraff benchmark --plan plan.yaml md.overrides.steps=200``
and ``egraff md run plan.toml temperatures=[300,600]`` all go through :func:`load_config`.

The schemas are pydantic (v2) models deriving from :class:`ConfigModel`: ``extra="forbid"`` (an unknown
key is an error, with the closest known key suggested) and ``strict=True`` (no silent conversions:
``1.7`` is not an integer, ``"300"`` is not a list of temperatures, ``true`` is not a number; an
integer is accepted where a float is expected). Why pydantic: a schema is a plain class with typed,
defaulted fields, each declared once, so a new key is one line; its validation errors carry the exact
location of every bad value, which is what the one-sentence messages below are made from; the JSON
schema of every config comes for free (``Model.model_json_schema()``); and it is a well-kept,
widely used library with no runtime magic: validation is an explicit call on plain data, and a
validated config dumps back to plain data (``model_dump()``) that the engines read.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

FILE_SUFFIXES = {".yaml": "YAML", ".yml": "YAML", ".toml": "TOML", ".json": "JSON"}


class ConfigError(ValueError):
    """A configuration or plan that cannot run, in one sentence naming the key and the fix.

    Raised inside a schema's validator, ``loc`` is the key path below the validated model and the
    message may say ``{key}`` where the full dotted key belongs."""

    def __init__(self, message: str, loc: tuple = ()):
        super().__init__(message)
        self.message, self.loc = message, tuple(loc)

    def located(self, outer: tuple = ()) -> str:
        loc = tuple(outer) + self.loc
        if "{key}" in self.message:
            return self.message.replace("{key}", dotted(loc))
        return f"{dotted(loc)}: {self.message}" if loc else self.message

    def __str__(self) -> str:
        return self.located()


class ConfigModel(BaseModel):
    """Base of every egraff schema: unknown keys and silent type conversions are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --------------------------------------------------------------------------------------------- reading

class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML reads ``1e-3`` as a string (YAML 1.1 wants ``1.0e-3``); read it as the number everyone means."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def parse_yaml(text: str):
    return yaml.load(text, Loader=_Yaml12Loader)


def read_config_file(path: str | Path) -> dict:
    """The mapping in a YAML, TOML or JSON file (by suffix; anything else is read as YAML)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist" if not path.exists() else
                          f"config file {path} is a directory; give a YAML, TOML or JSON file")
    kind = FILE_SUFFIXES.get(path.suffix.lower(), "YAML")
    try:
        if kind == "TOML":
            import tomllib

            content = tomllib.loads(path.read_text())
        elif kind == "JSON":
            content = json.loads(path.read_text())
        else:
            content = parse_yaml(path.read_text())
    except Exception as err:  # each parser has its own error class; all mean "not this format"
        raise ConfigError(f"{path} is not valid {kind}: {str(err).splitlines()[0]}") from None
    if content is None:
        return {}
    if not isinstance(content, Mapping):
        raise ConfigError(f"{path} must hold a mapping of keys, not a {type(content).__name__}")
    return dict(content)


def parse_override(text: str, shortcuts: Mapping[str, str] | None = None) -> tuple[str, Any]:
    """``"optim.lr=1e-3"`` → ``("optim.lr", 0.001)``; values are YAML scalars or flow lists/mappings."""
    key, separator, raw = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. optim.lr=0.001)")
    key = (shortcuts or {}).get(key, key)
    try:
        value = parse_yaml(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw  # not YAML (e.g. "a: b"): the text itself, for the schema to judge
    return key, value


def set_key(raw: dict, key: str, value) -> None:
    """Set dotted ``key`` in the nested mapping ``raw``, creating the sections on the way."""
    *sections, name = key.split(".")
    node = raw
    for depth, section in enumerate(sections):
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}=...: {'.'.join(sections[:depth + 1])} is {child!r}, not a section "
                              "with keys")
        node = child
    node[name] = value


def merge(base: Mapping, updates: Mapping) -> dict:
    """``base`` with ``updates`` applied, mappings merged key by key (lists and values replaced)."""
    merged = copy.deepcopy(dict(base))
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_config(model: type[ConfigModel], path: str | Path | None = None, overrides: Iterable[str] = (), *,
                shortcuts: Mapping[str, str] | None = None, context: dict | None = None) -> ConfigModel:
    """The file at ``path`` (if any), then ``key=value`` overrides (``shortcuts`` map short keys to dotted
    ones), validated as ``model`` (missing keys take its defaults); ``context`` goes to its validators.

    Every error is a :class:`ConfigError`; a bad value from the file names the file first."""
    raw = {}
    sources = []
    if path is not None:
        content = read_config_file(path)
        raw = merge(raw, content)
        sources += [(key, f"{path}: ") for key in _leaf_keys(content)]
    for text in overrides:
        key, value = parse_override(text, shortcuts)
        set_key(raw, key, value)
        sources.append((key, ""))  # the user just typed it: the key alone says where
    return validate(model, raw, sources=sources, context=context)


def validate(model: type[ConfigModel], raw: Mapping, *, where: str = "", sources: list | None = None,
             context: dict | None = None, prefix: tuple = ()) -> ConfigModel:
    """``model`` validated from plain data; the first problem raised as one :class:`ConfigError` sentence.

    ``where`` prefixes the sentence; ``sources`` lists (dotted key, prefix naming where it came from),
    later entries winning; ``prefix`` is the key path of ``raw`` inside a larger config (for the names
    of keys in the sentence)."""
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as err:
        loc, sentence = explain(err, model, prefix)
        key = dotted(loc)
        origin = next((prefix for name, prefix in reversed(sources or [])
                       if key == name or key.startswith(name + ".") or name.startswith(key + ".")), "")
        raise ConfigError(f"{where}{origin}{sentence}") from None


def _leaf_keys(mapping: Mapping, prefix: str = "") -> list[str]:
    keys = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        keys += _leaf_keys(value, name + ".") if isinstance(value, Mapping) and value else [name]
    return keys


# ------------------------------------------------------------------------------------ error sentences

def dotted(loc: Iterable) -> str:
    """``("systems", 0, "path")`` → ``systems[0].path``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "text (a string)", "list_type": "a list, e.g. [1, 2]",
    "tuple_type": "a list", "set_type": "a list", "dict_type": "a mapping of keys",
    "model_type": "a mapping of keys", "model_attributes_type": "a mapping of keys", "none_required": "nothing",
    "finite_number": "a finite number",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def explain(error: ValidationError, model: type[BaseModel], prefix: tuple = ()) -> tuple[tuple, str]:
    """The location (``prefix`` + the key path in ``model``) and the one sentence of the first problem
    pydantic found."""
    # unknown keys first (usually a typo that explains the rest), then the problem found deepest (in a
    # union, the member that matched the value's shape best)
    details = sorted(error.errors(), key=lambda e: (e["type"] != "extra_forbidden", -len(_real_loc(model, e["loc"]))))
    first = details[0]
    loc = _real_loc(model, first["loc"][:-1]) + first["loc"][-1:] if first["type"] == "extra_forbidden" \
        else _real_loc(model, first["loc"])
    known = _known_keys(model, loc[:-1])
    loc = tuple(prefix) + loc
    kind, value, ctx = first["type"], first.get("input"), first.get("ctx") or {}
    key = dotted(loc)
    if kind == "extra_forbidden":
        where = f"keys of {dotted(loc[:-1])}" if loc[:-1] else "known keys"
        return loc, f"unknown key {key}{suggest(loc[-1], known)}; {where}: {', '.join(known)}"
    if kind == "missing":
        return loc, f"{key} is missing; give it a value"
    if kind == "value_error" and isinstance(ctx.get("error"), ConfigError):
        return loc, ctx["error"].located(loc)
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error", first["msg"]))
        return loc, f"{key}: {message}" if key else message
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return loc, f"{key} = {_shown(value)}: choose one of {', '.join(choices)}"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return loc, f"{key} = {_shown(value)}: expected a number {_BOUNDS[kind]} {bound}"
    if kind in ("too_short", "too_long"):
        size = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return loc, f"{key} = {_shown(value)}: expected {'at least' if kind == 'too_short' else 'at most'} {size} item(s)"
    # a union reports one error per member: name every kind it would have taken
    expected = [_EXPECTED.get(e["type"], e["msg"].lower()) for e in error.errors()
                if tuple(prefix) + _real_loc(model, e["loc"]) == loc and e["type"] in _EXPECTED]
    expected = list(dict.fromkeys(expected)) or [first["msg"].lower()]
    return loc, f"{key} = {_shown(value)}: expected {' or '.join(expected)}"


def _real_loc(model, loc: tuple) -> tuple:
    """``loc`` without the union-member tags pydantic inserts (``("u", "list[str]", 0)`` → ``("u", 0)``)."""
    real, node = [], model
    for part in loc:
        if isinstance(part, int) or node is _ANY or _is_field(node, part):
            real.append(part)
            node = _child(node, part)
    return tuple(real)


_ANY = object()


def _is_field(node, part) -> bool:
    if isinstance(node, type) and issubclass(node, BaseModel):
        return part in node.model_fields
    return node is dict or _origin(node) is dict or node is _ANY


def _origin(annotation):
    return typing.get_origin(annotation)


def _members(annotation) -> list:
    if _origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    if _origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]


def _child(node, part):
    """The annotation one step below ``node`` along ``part`` (a field name, a list index or a mapping key)."""
    if node is _ANY:
        return _ANY
    candidates = []
    if isinstance(node, type) and issubclass(node, BaseModel) and isinstance(part, str):
        candidates = _members(node.model_fields[part].annotation)
    elif _origin(node) in (list, tuple, set) and isinstance(part, int):
        candidates = _members(typing.get_args(node)[0])
    elif _origin(node) is dict:
        candidates = _members(typing.get_args(node)[1])
    else:
        return _ANY
    for candidate in candidates:  # prefer a model, then a container: that is where keys live
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    for candidate in candidates:
        if _origin(candidate) in (list, tuple, set, dict):
            return candidate
    return _ANY


def _known_keys(model, loc: tuple) -> list[str]:
    node = model
    for part in loc:
        node = _child(node, part)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


# ------------------------------------------------------------------------------ checks used by schemas

def check_like(default, value, key: tuple, what: str = "default") -> None:
    """Refuse ``value`` unless it has the kind of ``default`` (for open mappings such as model
    hyperparameters, whose keys and kinds come from a preset rather than a schema)."""
    kinds = [(bool, (bool,), "true or false"), (int, (int,), "an integer"), (float, (int, float), "a number"),
             (str, (str,), "text (a string)"), (list, (list, tuple), "a list"), (tuple, (list, tuple), "a list"),
             (dict, (dict,), "a mapping of keys")]
    for kind, accepted, name in kinds:
        if isinstance(default, kind):
            if not isinstance(value, accepted) or (isinstance(value, bool) and kind is not bool):
                raise ConfigError(f"{{key}} = {_shown(value)}: expected {name}, like the {what} {_shown(default)}", key)
            return


def suggest(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or an empty string."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
