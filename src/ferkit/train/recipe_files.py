"""Recipe files: TOML tables that load into the typed, frozen ``Recipe``.

One file holds the recipes of one family or issue; one table is one recipe, keyed by its tag::

    [fer2013-embed-triplet-v2]
    extends = "fer2013-embed-triplet-v1"       # start from another recipe (any file), by tag
    epochs = 6
    init_weights = "run:fer2013-ce-modres18/best.pt"   # a warm start names a run (see ``ferkit.train.runs``)
    augment = { rotation_deg = 15 }            # augment fields are set one by one on the parent's

The tag gives ``name`` and ``version`` (``name-vN``). A key sets one ``Recipe`` field and replaces the
parent's value whole, except ``augment``, whose keys each set one ``AugmentConfig`` field. Unknown keys,
wrong types, a missing parent and ``extends`` cycles are ``ConfigError``s naming the file, the recipe
and the key, raised when the files are read, not when a run starts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from ferkit.errors import ConfigError
from ferkit.train.config import AUGMENT_FIELD_TYPES, RECIPE_FIELD_TYPES, AugmentConfig, Recipe, convert_field, validate_recipe
from ferkit.train.runs import check_run_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport (a dependency there)
    import tomli as tomllib

TAG_PATTERN = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_-]*?)-v(?P<version>[1-9][0-9]*)$")
DERIVED = ("name", "version")  # taken from the tag, never written in a table


@dataclasses.dataclass(frozen=True)
class RecipeTable:
    """One recipe as written: its tag, the file it is in, and its keys (``extends`` included)."""

    tag: str
    path: Path
    keys: dict[str, Any]

    def where(self) -> str:
        return f"{self.path}: recipe {self.tag!r}"


def read_recipe_file(path: str | Path) -> list[RecipeTable]:
    """The recipe tables of one TOML file, in file order (not yet resolved or checked)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read recipe file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(json_recipe_hint(path, text) or f"{path} is not valid TOML: {exc}") from None
    tables = []
    for tag, keys in data.items():
        if not isinstance(keys, dict):
            raise ConfigError(f"{path}: top-level key {tag!r} must be a recipe table ([{tag}]), not a value")
        if not TAG_PATTERN.match(tag):
            raise ConfigError(f"{path}: recipe table [{tag}] must be named name-vN (lower case, e.g. fer2013-ce-modres18-v1)")
        tables.append(RecipeTable(tag, path, keys))
    return tables


def json_recipe_hint(path: Path, text: str) -> str:
    """For a JSON file given as a recipe file (a run's ``recipe.json``, ``ferkit recipes NAME`` output): what to give
    instead; "" for other text. Why: "not valid TOML" alone did not say that recipe files are TOML."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) and path.suffix.lower() != ".json":
        return ""
    named = isinstance(data, dict) and isinstance(data.get("name"), str) and isinstance(data.get("version"), int)
    tag = f"{data['name']}-v{data['version']}" if named else "NAME-vN"
    return (f"{path} is JSON, but recipe files are TOML (docs/recipes.md). A run's recipe.json records the recipe it resolved: to continue "
            f"that run, give the recipe it names ({tag}: its shipped tag, or the .toml file that defined it) with --resume and the run's --out; "
            f"to train it again, give the same, or a TOML file with a table [my-recipe-v1] holding extends = \"{tag}\" and the fields to change")


def load_recipes(paths: Iterable[str | Path], *, known: Mapping[str, Recipe] | None = None) -> dict[str, Recipe]:
    """Read, resolve (``extends``) and validate every recipe in ``paths``; tag -> Recipe, in file order.

    ``known``: recipes already loaded (the shipped ones, for a user's file) that these files may extend
    without reading their files again; a file may not define one of their tags a second time.
    """
    known = dict(known or {})
    tables: dict[str, RecipeTable] = {}
    for path in paths:
        for table in read_recipe_file(path):
            if table.tag in tables:
                raise ConfigError(f"recipe {table.tag!r} is defined twice: in {tables[table.tag].path} and in {table.path}")
            if table.tag in known:
                raise ConfigError(f"{table.where()} is already a recipe ferkit knows (a shipped or registered one): "
                                  f"use it by name, or give yours a new tag (name-vN)")
            tables[table.tag] = table
    resolved: dict[str, Recipe] = dict(known)
    for tag in tables:
        _resolve(tag, tables, resolved, chain=())
    return {tag: resolved[tag] for tag in tables}


def _resolve(tag: str, tables: dict[str, RecipeTable], resolved: dict[str, Recipe], chain: tuple[str, ...]) -> Recipe:
    if tag in resolved:
        return resolved[tag]
    table = tables[tag]
    if tag in chain:
        raise ConfigError(f"{table.where()}: 'extends' makes a cycle: {' -> '.join(chain + (tag,))}")
    keys = dict(table.keys)
    parent_tag = keys.pop("extends", None)
    if parent_tag is None:
        parent = Recipe(name="")
    else:
        if not isinstance(parent_tag, str):
            raise ConfigError(f"{table.where()}: key 'extends' must be a recipe tag (a string), got {type(parent_tag).__name__}")
        if parent_tag not in tables and parent_tag not in resolved:
            raise ConfigError(f"{table.where()}: key 'extends' names {parent_tag!r}, which no recipe file defines")
        parent = _resolve(parent_tag, tables, resolved, chain + (tag,))
    match = TAG_PATTERN.match(tag)
    assert match is not None  # read_recipe_file checked the tag
    recipe = dataclasses.replace(parent, name=match["name"], version=int(match["version"]), **_fields(table, keys, parent))
    try:
        resolved[tag] = validate_recipe(recipe)
    except ConfigError as exc:
        raise ConfigError(f"{table.where()}: {exc}") from None
    return resolved[tag]


def _fields(table: RecipeTable, keys: dict[str, Any], parent: Recipe) -> dict[str, Any]:
    """Checked and converted ``Recipe`` field values for the keys of one table."""
    fields: dict[str, Any] = {}
    for key, value in keys.items():
        if key in DERIVED:
            raise ConfigError(f"{table.where()}: key {key!r} is not allowed: name and version come from the table name [{table.tag}]")
        if key not in RECIPE_FIELD_TYPES:
            raise ConfigError(f"{table.where()}: unknown key {key!r}; valid keys: extends, {', '.join(k for k in RECIPE_FIELD_TYPES if k not in DERIVED)}")
        if key == "augment":
            fields[key] = _augment(table, value, parent.augment)
            continue
        fields[key] = convert_field(value, RECIPE_FIELD_TYPES[key], f"{table.where()}: key {key!r}")
        if key == "init_weights":
            check_run_spec(fields[key], f"{table.where()}: key 'init_weights'")
    return fields


def _augment(table: RecipeTable, value: Any, parent: AugmentConfig) -> AugmentConfig:
    if not isinstance(value, dict):
        raise ConfigError(f"{table.where()}: key 'augment' must be a table of augment fields, got {type(value).__name__}")
    changes = {}
    for key, item in value.items():
        if key not in AUGMENT_FIELD_TYPES:
            raise ConfigError(f"{table.where()}: unknown key 'augment.{key}'; valid augment keys: {', '.join(AUGMENT_FIELD_TYPES)}")
        changes[key] = convert_field(item, AUGMENT_FIELD_TYPES[key], f"{table.where()}: key 'augment.{key}'")
    return dataclasses.replace(parent, **changes)
