"""The named recipes ferkit ships, read from the TOML files in ``ferkit/recipes/``.

A figure in the docs always names one of these. The files are data (see ``recipe_files`` for the
format and docs/recipes.md for how to add one); this module only puts them in a registry.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

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


for _tag, _recipe in load_recipes(recipe_files()).items():
    RECIPES.register(_tag, _recipe)
