"""Recipes, the training loop and checkpoints."""
