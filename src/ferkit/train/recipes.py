"""The named recipes ferkit ships. A figure in the docs always names one of these."""

from __future__ import annotations

import dataclasses

from ferkit.errors import ConfigError
from ferkit.train.config import AugmentConfig, Recipe

RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    if recipe.tag in RECIPES:
        raise ValueError(f"recipe {recipe.tag} registered twice")
    RECIPES[recipe.tag] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; available recipes: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def list_recipes() -> list[str]:
    return sorted(RECIPES)


# Cross-entropy baselines (issue 2). SGD + nesterov with a one-cycle schedule converges in few
# epochs, which matters on a CPU budget.
CE_MODRES18 = register_recipe(Recipe(
    name="fer2013-ce-modres18", version=1,
    description="Modified ResNet-18 (paper 000 Table 1), cross-entropy, label smoothing 0.1, SGD nesterov one-cycle",
    model="modified_resnet18", model_kwargs={"dropout": 0.2}, loss="ce", loss_kwargs={"label_smoothing": 0.1},
    epochs=15, batch_size=128, optimizer="sgd", lr=0.1, weight_decay=5e-4, schedule="onecycle",
))
register_recipe(dataclasses.replace(
    CE_MODRES18, name="fer2013-ce-resnet18", description="Standard ResNet-18 (timm), cross-entropy, SGD nesterov one-cycle",
    model="resnet18",
))
register_recipe(dataclasses.replace(
    CE_MODRES18, name="ckplus-ce-modres18", description="Modified ResNet-18 on CK+48 folds, cross-entropy",
    epochs=40, batch_size=64, lr=0.05, protocol="kfold10",
))
register_recipe(dataclasses.replace(
    CE_MODRES18, name="fer2013-ce-modres18-occ",
    description="Modified ResNet-18, cross-entropy, random erasing + synthetic occluders (sunglasses, masks, hands...)",
    augment=AugmentConfig(erasing_p=0.25, occlusion_p=0.4),
))
register_recipe(Recipe(
    name="tiny-smoke", version=1, description="Seconds-long run for tests and smoke checks",
    model="modified_resnet18", epochs=2, batch_size=16, optimizer="adam", lr=1e-3, schedule="none",
))
