"""Typed dataclass configs <-> YAML, with clear errors on unknown keys and wrong types.

Every config in byol3d is a dataclass with named presets (`quick`, `full`, ...). This module turns one
into plain YAML and back, checking each value against the field's annotation, so a typo in a YAML
file is reported with the file and the key instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from byol3d.utils.atomic import atomic_write_text

T = TypeVar("T")
PROFILES = ("smoke", "quick", "full")  # the named presets of every config, and the report's profiles


class ConfigError(ValueError):
    """A config value or file is wrong; the message names the file/key and the reason."""


def to_dict(config: Any) -> dict:
    """Plain nested dict (tuples become lists) ready for YAML or JSON."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_hash(config: Any, length: int = 12) -> str:
    """Stable short hash of a config's values: used to cache runs by config."""
    text = json.dumps(to_dict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def save_yaml(config: Any, path: str | Path) -> Path:
    return atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))


def load_yaml(cls: type[T], path: str | Path) -> T:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if data is None:  # an empty file silently meaning "all defaults" hides a wrong or truncated file
        raise ConfigError(f"{path}: the config file is empty; write the fields to set (`{{}}` for all "
                          f"{cls.__name__} defaults) or pass a preset name")
    return from_dict(cls, data, where=str(path))


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build `cls` from a dict, rejecting unknown keys and values of the wrong type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(hints[name], value, f"{where}: {name}") for name, value in data.items()}
    return cls(**values)


def apply_overrides(config: T, pairs: list[str], where: str = "--set") -> T:
    """A copy of `config` with "dotted.field=value" overrides (values read as YAML scalars), checked like a
    YAML file: an unknown field or a wrong type raises ConfigError naming it."""
    values = to_dict(config)
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where}: expected field=value, got {pair!r}")
        node = values
        *parents, leaf = key.split(".")
        for name in parents:
            if not isinstance(node.get(name), dict):
                raise ConfigError(f"{where}: {key!r} is not a field of {type(config).__name__}")
            node = node[name]
        if leaf not in node:
            raise ConfigError(f"{where}: {key!r} is not a field of {type(config).__name__}")
        node[leaf] = yaml.safe_load(text)
    return from_dict(type(config), values, where=where)


def _coerce(annotation: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(item, v, where) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is float:
        return _to_float(value, where)
    if annotation in (int, float, str, bool) and not (
        isinstance(value, annotation) and not (annotation is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
    return value


def _to_float(value: Any, where: str) -> float:
    """A finite float from a float, an int or a numeric string (PyYAML reads `1e-3` as the string '1e-3')."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected float, got {value!r}") from None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ConfigError(f"{where}: expected float, got {value!r}")
    if not math.isfinite(number):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    return float(number)


def check_fields(config: Any, checks: list[tuple[bool, str, str]]) -> None:
    """Raise ConfigError for a non-finite float field, else for the first failed `(ok, field, reason)`
    check, naming the class, field and value (NaN passes every `>` / `<` check, so finiteness comes first)."""
    finite = [(math.isfinite(getattr(config, f.name)), f.name, "must be a finite number")
              for f in dataclasses.fields(config) if isinstance(getattr(config, f.name), float)]
    for ok, name, reason in finite + checks:
        if not ok:
            raise ConfigError(f"{type(config).__name__}.{name}: {reason}, got {getattr(config, name)!r}")


def load_preset_or_yaml(cls: type[T], name_or_path: str, presets: tuple[str, ...]) -> T:
    """A preset name (`cls.<name>()`) or a YAML file; a bad value names the file, the field and the reason."""
    if name_or_path in presets:
        return getattr(cls, name_or_path)()
    try:
        return load_yaml(cls, name_or_path)
    except (ConfigError, ValueError) as err:
        message = str(err)
        raise ConfigError(message if str(name_or_path) in message else f"{name_or_path}: {message}") from None
