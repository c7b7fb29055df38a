"""The named recipes ferkit ships, read from the TOML files in ``ferkit/recipes/``.

A figure in the docs always names one of these. The files are data (see ``recipe_files`` for the
format and docs/recipes.md for how to add one); this module only puts them in a registry.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ferkit.errors import ConfigError
from ferkit.registry import Registry
from ferkit.train.config import Recipe
from ferkit.train.recipe_files import load_recipes

RECIPES: Registry[Recipe] = Registry("recipe")


def recipe_files() -> list[Path]:
    """The shipped recipe files, in name order (a recipe may extend one in any file: the order does not matter)."""
    folder = resources.files("ferkit") / "recipes"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".toml"))


def register_recipe(recipe: Recipe, **metadata: object) -> Recipe:
    """Add a recipe built in code (a user's experiment); its tag must be new."""
    return RECIPES.register(recipe.tag, recipe, **metadata)


def get_recipe(name: str) -> Recipe:
    return RECIPES.get(name)


def list_recipes() -> list[str]:
    return RECIPES.names()


def resolve_recipe(name_or_path: str) -> Recipe:
    """The recipe ``ferkit train --recipe`` names: a shipped tag, or a recipe file of one's own.

    ``path/to/file.toml`` must hold one recipe; ``path/to/file.toml:TAG`` picks one of several. The file
    may extend shipped recipes by tag, and its errors name the file. A value that looks like a path (ends
    in .toml or .json, or holds a path separator) is never taken for a misspelt recipe name: a run's
    ``recipe.json`` is read as a file, whose error says that recipe files are TOML.
    """
    path_text, tag = name_or_path, None
    head, colon, tail = name_or_path.rpartition(":")
    if colon and head.lower().endswith(".toml"):
        path_text, tag = head, tail
    separators = [sep for sep in (os.sep, os.altsep, "/") if sep]
    if not path_text.lower().endswith((".toml", ".json")) and not any(sep in path_text for sep in separators):
        try:
            return RECIPES.get(name_or_path)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; or give a recipe file, path/to/file.toml[:NAME]") from None
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(f"recipe file {path} is a directory, not a .toml file" if path.is_dir() else f"recipe file {path} not found")
    found = load_recipes([path], known=dict(RECIPES.items()))
    if tag is not None:
        if tag not in found:
            raise ConfigError(f"{path} has no recipe {tag!r}; it holds: {', '.join(found) or '(none)'}")
        return found[tag]
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise ConfigError(f"{path} holds no recipe: add a table such as [my-recipe-v1]")
    example = next(iter(found))
    raise ConfigError(f"{path} holds {len(found)} recipes ({', '.join(found)}); pick one with {path}:NAME, e.g. {path}:{example}")


for _tag, _recipe in load_recipes(recipe_files()).items():
    RECIPES.register(_tag, _recipe)
