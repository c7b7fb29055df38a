"""Colours and surface textures for drawn occluders, so no two masks or scarves look alike.

Everything works on float RGB canvases (h, w, 3) in [0, 1]; the occluder's alpha is drawn apart.
"""

from __future__ import annotations

import colorsys

import numpy as np

TEXTURES: tuple[str, ...] = ("solid", "stripes", "checks", "dots", "noise")


def random_colour(rng: np.random.Generator, *, hue: tuple[float, float] = (0.0, 1.0), saturation: tuple[float, float] = (0.2, 0.9), value: tuple[float, float] = (0.2, 0.95)) -> np.ndarray:
    """An RGB colour (3,) in [0, 1] drawn in HSV ranges (hue wraps)."""
    h = rng.uniform(*hue) % 1.0
    return np.array(colorsys.hsv_to_rgb(h, rng.uniform(*saturation), rng.uniform(*value)), dtype=np.float32)


def skin_colour(rng: np.random.Generator) -> np.ndarray:
    """A skin tone from pale to dark (hands)."""
    return random_colour(rng, hue=(0.03, 0.09), saturation=(0.25, 0.6), value=(0.3, 0.95))


def hair_colour(rng: np.random.Generator) -> np.ndarray:
    """Black, brown, auburn or blond hair."""
    return random_colour(rng, hue=(0.03, 0.12), saturation=(0.2, 0.8), value=(0.05, 0.75))


def dark_colour(rng: np.random.Generator) -> np.ndarray:
    """Near-black tints for sunglasses lenses, phone bodies and frames."""
    return random_colour(rng, saturation=(0.0, 0.6), value=(0.02, 0.3))


def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row (h, 1) and column (1, w) float32 pixel coordinates: broadcast, they give every pixel the value a full
    ``np.mgrid`` would, without building two (h, w) arrays per occluder (a tenth of the drawing time)."""
    return np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]


def fill_texture(canvas: np.ndarray, colour: np.ndarray, texture: str, rng: np.random.Generator) -> np.ndarray:
    """Paint ``canvas`` (h, w, 3) with ``colour`` and a pattern of a second, contrasting colour."""
    h, w = canvas.shape[:2]
    canvas[:] = colour
    if texture == "solid":
        return canvas
    second = np.clip(colour + rng.choice([-1, 1]) * rng.uniform(0.2, 0.45), 0, 1) if rng.random() < 0.5 else random_colour(rng)
    yy, xx = _pixel_grid(h, w)
    period = rng.uniform(0.06, 0.2) * max(h, w)
    angle = rng.uniform(0, np.pi)
    if texture == "stripes":
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        pattern = (phase % 1.0) < rng.uniform(0.3, 0.6)
    elif texture == "checks":
        pattern = ((xx // period + yy // period) % 2).astype(bool)
    elif texture == "dots":
        cx, cy = (xx % period) - period / 2, (yy % period) - period / 2
        pattern = cx**2 + cy**2 < (period * rng.uniform(0.18, 0.35)) ** 2
    elif texture == "noise":
        noise = rng.normal(0, rng.uniform(0.05, 0.15), size=(h, w, 1)).astype(np.float32)
        canvas += noise
        np.clip(canvas, 0, 1, out=canvas)
        return canvas
    else:
        raise ValueError(f"unknown texture {texture!r}; known: {TEXTURES}")
    canvas[pattern] = second
    return canvas


def shade(canvas: np.ndarray, rng: np.random.Generator, strength: float = 0.25) -> np.ndarray:
    """A soft linear light gradient in a random direction, so flat shapes read as 3-D objects."""
    h, w = canvas.shape[:2]
    yy, xx = _pixel_grid(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (xx / max(w - 1, 1) - 0.5) * np.cos(angle) + (yy / max(h - 1, 1) - 0.5) * np.sin(angle)
    canvas *= (1.0 + strength * ramp)[..., None]
    return np.clip(canvas, 0, 1, out=canvas)
