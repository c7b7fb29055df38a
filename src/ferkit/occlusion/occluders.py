"""Everyday occluders drawn by our own code as RGBA patches: glasses, masks, scarves, hands...

Paper 003 pasted ~300 cartoon images from the Internet; we cannot ship those, so each occluder is
drawn procedurally with OpenCV at a working resolution of about 160 px and varied in shape,
colour and texture by the random generator. Placement (scale, angle, position) is done later by
``placement.py``. A patch is (h, w, 4) uint8 RGBA; alpha is anti-aliased, and clear-glass lenses
are semi-transparent (alpha < 0.5, so they do not count as covering the face).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ferkit.errors import ConfigError
from ferkit.occlusion.textures import TEXTURES, dark_colour, fill_texture, hair_colour, random_colour, shade, skin_colour

AA = cv2.LINE_AA


@dataclass(frozen=True)
class OccluderSpec:
    """How an occluder kind is drawn and where it sits when no region is asked for.

    ``width``: its usual width as a fraction of the face width; ``max_tilt``: random rotation in degrees.
    """

    draw: Callable[[np.random.Generator], np.ndarray]
    natural_region: str
    width: float
    max_tilt: float


def _blank(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.uint8)


def _rgba(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """float RGB (h, w, 3) in [0, 1] + uint8 alpha (h, w) -> (h, w, 4) uint8."""
    out = np.empty(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3] = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = alpha
    return out


def _poly(points: list[tuple[float, float]] | np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, np.float64)).astype(np.int32).reshape(-1, 1, 2)


def _lens_masks(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple], str]:
    """Filled lens mask for a pair of glasses plus the lens geometry (centre, axes) and shape name."""
    shape = str(rng.choice(["round", "oval", "square", "aviator"]))
    rx = w * rng.uniform(0.17, 0.21)
    ry = h * (rng.uniform(0.36, 0.44) if shape != "oval" else rng.uniform(0.28, 0.36))
    gap = w * rng.uniform(0.05, 0.09)
    lenses = [(w / 2 - gap / 2 - rx, h * 0.5), (w / 2 + gap / 2 + rx, h * 0.5)]
    mask = np.zeros((h, w), np.uint8)
    for i, (cx, cy) in enumerate(lenses):
        if shape in ("round", "oval"):
            cv2.ellipse(mask, (int(cx), int(cy)), (int(rx), int(ry)), 0, 0, 360, 255, -1, AA)
        elif shape == "square":
            r = int(min(rx, ry) * 0.35)
            x0, y0, x1, y1 = int(cx - rx), int(cy - ry), int(cx + rx), int(cy + ry)
            cv2.rectangle(mask, (x0 + r, y0), (x1 - r, y1), 255, -1)
            cv2.rectangle(mask, (x0, y0 + r), (x1, y1 - r), 255, -1)
            for px, py in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
                cv2.circle(mask, (px, py), r, 255, -1, AA)
        else:  # aviator: a tear drop, wider at the top, the inner side lower than the outer
            inner = 1 if i == 0 else -1  # +x points towards the nose for the left lens
            pts = []
            for t in np.linspace(0, 2 * np.pi, 48):
                x = cx + rx * np.cos(t)
                droop = 0.85 if np.sin(t) > 0 else 1.0 + 0.25 * inner * np.cos(t)
                pts.append((x, cy - ry * droop * np.sin(t)))
            cv2.fillPoly(mask, [_poly(pts)], 255, AA)
    return mask, [(cx, cy, rx, ry) for cx, cy in lenses], shape


def _frame(h: int, w: int, lenses: list[tuple], thickness: int, rng: np.random.Generator) -> np.ndarray:
    """Bridge and the start of both arms, as a uint8 mask."""
    mask = np.zeros((h, w), np.uint8)
    (lx, ly, rx, ry), (rx2, ry2, _, _) = lenses
    bridge_y = int(ly - ry * rng.uniform(0.2, 0.5))
    cv2.line(mask, (int(lx + rx * 0.9), bridge_y), (int(rx2 - rx * 0.9), bridge_y), 255, thickness, AA)
    arm_y = int(ly - ry * 0.6)
    cv2.line(mask, (int(lx - rx), arm_y), (0, arm_y - int(h * 0.05)), 255, thickness, AA)
    cv2.line(mask, (int(rx2 + rx), arm_y), (w - 1, arm_y - int(h * 0.05)), 255, thickness, AA)
    return mask


def draw_sunglasses(rng: np.random.Generator) -> np.ndarray:
    h, w = 64, 170
    lens, lenses, _ = _lens_masks(h, w, rng)
    thickness = int(rng.integers(3, 7))
    frame = _frame(h, w, lenses, thickness, rng)
    rim = cv2.dilate(lens, np.ones((thickness, thickness), np.uint8)) - lens
    rgb, _ = _blank(h, w)
    rgb[:] = dark_colour(rng)
    shade(rgb, rng, 0.6)
    # A soft reflection stripe across each lens.
    glint = np.zeros((h, w), np.float32)
    for cx, cy, rx, ry in lenses:
        cv2.line(glint, (int(cx - rx * 0.5), int(cy + ry * 0.3)), (int(cx + rx * 0.1), int(cy - ry * 0.6)), 1.0, max(2, int(rx * 0.15)), AA)
    rgb += (cv2.GaussianBlur(glint, (0, 0), 2) * rng.uniform(0.1, 0.35))[..., None]
    frame_rgb = dark_colour(rng) if rng.random() < 0.7 else random_colour(rng)
    fm = np.maximum(frame, rim) > 0
    rgb[fm] = frame_rgb
    alpha = np.maximum.reduce([(lens.astype(np.float32) * rng.uniform(0.9, 1.0)).astype(np.uint8), frame, rim])
    return _rgba(rgb, alpha)


def draw_clear_glasses(rng: np.random.Generator) -> np.ndarray:
    h, w = 64, 170
    lens, lenses, _ = _lens_masks(h, w, rng)
    thickness = int(rng.integers(3, 8))
    rim = cv2.dilate(lens, np.ones((thickness, thickness), np.uint8))
    rim = np.clip(rim.astype(np.int16) - cv2.erode(lens, np.ones((thickness, thickness), np.uint8)), 0, 255).astype(np.uint8)
    frame = np.maximum(rim, _frame(h, w, lenses, max(2, thickness - 1), rng))
    rgb, _ = _blank(h, w)
    rgb[:] = np.clip(np.array([0.85, 0.92, 1.0]) * rng.uniform(0.8, 1.0), 0, 1)  # faint tint of the glass
    rgb[frame > 0] = dark_colour(rng) if rng.random() < 0.6 else random_colour(rng, value=(0.4, 0.9))
    lens_alpha = lens.astype(np.float32) * rng.uniform(0.12, 0.35)  # see-through: never counts as covered
    alpha = np.maximum(lens_alpha.astype(np.uint8), frame)
    return _rgba(rgb, alpha)


def _face_cover_outline(w: int, h: int, top: float, bottom: float, left: float, right: float) -> np.ndarray:
    """A mask-like outline: a nose peak on the top edge, a rounded chin at the bottom."""
    xs = np.linspace(left, right, 30)
    u = (xs - left) / (right - left) * 2 - 1
    top_edge = [(x, top + (u_**2) * h * 0.25 + h * 0.02) for x, u_ in zip(xs, u)]
    bottom_edge = [(x, h * bottom - (u_**2) * h * 0.3) for x, u_ in zip(xs[::-1], u[::-1])]
    return _poly(top_edge + bottom_edge)


def draw_surgical_mask(rng: np.random.Generator) -> np.ndarray:
    h, w = 110, 170
    left, right = w * 0.13, w * 0.87
    body = np.zeros((h, w), np.uint8)
    cv2.fillPoly(body, [_face_cover_outline(w, h, h * 0.04, 0.97, left, right)], 255, AA)
    rgb, _ = _blank(h, w)
    base = random_colour(rng, hue=(0.45, 0.62), saturation=(0.1, 0.45), value=(0.75, 1.0)) if rng.random() < 0.75 else random_colour(rng, saturation=(0.0, 0.3), value=(0.1, 1.0))
    fill_texture(rgb, base, "noise" if rng.random() < 0.3 else "solid", rng)
    shade(rgb, rng, 0.3)
    pleat = np.clip(base * 0.75, 0, 1)
    for y in np.linspace(0.3, 0.7, 3) + rng.uniform(-0.03, 0.03):
        cv2.line(rgb, (int(left), int(h * y)), (int(right), int(h * (y + rng.uniform(-0.02, 0.02)))), tuple(map(float, pleat)), 2, AA)
    loops = np.zeros((h, w), np.uint8)
    for x0, (start, end) in ((left, (90, 270)), (right, (-90, 90))):  # ear loops: outer half-ellipses
        cv2.ellipse(loops, (int(x0), int(h * 0.45)), (int(w * 0.1), int(h * 0.33)), 0, start, end, 255, 2, AA)
    rgb[loops > 0] = (0.95, 0.95, 0.95)
    return _rgba(rgb, np.maximum(body, loops))


def draw_cloth_mask(rng: np.random.Generator) -> np.ndarray:
    h, w = 115, 170
    left, right = w * 0.08, w * 0.92
    body = np.zeros((h, w), np.uint8)
    cv2.fillPoly(body, [_face_cover_outline(w, h, h * 0.0, 0.99, left, right)], 255, AA)
    rgb, _ = _blank(h, w)
    base = random_colour(rng)
    fill_texture(rgb, base, str(rng.choice(TEXTURES)), rng)
    shade(rgb, rng, 0.35)
    seam = tuple(map(float, np.clip(base * 0.6, 0, 1)))
    cv2.line(rgb, (w // 2, 0), (w // 2, h - 1), seam, 2, AA)
    straps = np.zeros((h, w), np.uint8)
    cv2.line(straps, (int(left) + 2, int(h * 0.25)), (0, int(h * 0.2)), 255, 3, AA)
    cv2.line(straps, (int(right) - 2, int(h * 0.25)), (w - 1, int(h * 0.2)), 255, 3, AA)
    rgb[(straps > 0) & (body == 0)] = seam
    return _rgba(rgb, np.maximum(body, straps))


def draw_scarf(rng: np.random.Generator) -> np.ndarray:
    h, w = 90, 200
    xs = np.linspace(0, w - 1, 50)
    phase, waves = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 3.0)
    top = h * 0.12 + h * 0.08 * np.sin(xs / w * 2 * np.pi * waves + phase)
    bottom = h * 0.97 - h * 0.05 * np.abs(np.sin(xs / w * np.pi * waves))
    body = np.zeros((h, w), np.uint8)
    cv2.fillPoly(body, [_poly(np.concatenate([np.stack([xs, top], 1), np.stack([xs[::-1], bottom[::-1]], 1)]))], 255, AA)
    rgb, _ = _blank(h, w)
    base = random_colour(rng)
    fill_texture(rgb, base, str(rng.choice(TEXTURES)), rng)
    shade(rgb, rng, 0.4)
    fold = tuple(map(float, np.clip(base * 0.55, 0, 1)))
    for _ in range(int(rng.integers(2, 5))):  # draped folds
        x0 = rng.uniform(0, w)
        cv2.line(rgb, (int(x0), int(h * 0.3)), (int(x0 + rng.uniform(-40, 40)), h - 1), fold, int(rng.integers(1, 4)), AA)
    return _rgba(rgb, body)


def draw_hand(rng: np.random.Generator) -> np.ndarray:
    h, w = 160, 130
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (int(w * 0.5), int(h * 0.68)), (int(w * 0.3), int(h * 0.24)), 0, 0, 360, 255, -1, AA)
    finger_w = int(w * rng.uniform(0.12, 0.15))
    spread = rng.uniform(0.0, 0.25)
    lengths = rng.uniform(0.85, 1.0) * np.array([0.36, 0.44, 0.42, 0.33]) * h
    lines = np.zeros((h, w), np.uint8)
    for i, (x, length) in enumerate(zip(np.linspace(0.29, 0.71, 4) * w, lengths)):
        angle = (i - 1.5) * spread
        base = (int(x), int(h * 0.55))
        tip = (int(x + np.sin(angle) * length), int(h * 0.55 - np.cos(angle) * length))
        cv2.line(mask, base, tip, 255, finger_w, AA)
        cv2.circle(mask, tip, finger_w // 2, 255, -1, AA)
        if i:
            cv2.line(lines, (int(x - finger_w * 0.5), int(h * 0.58)), (int(x - finger_w * 0.5 + np.sin(angle) * length * 0.5), int(h * 0.58 - np.cos(angle) * length * 0.5)), 255, 1, AA)
    thumb_tip = (int(w * rng.uniform(0.0, 0.12)), int(h * rng.uniform(0.4, 0.55)))
    cv2.line(mask, (int(w * 0.25), int(h * 0.75)), thumb_tip, 255, int(finger_w * 1.15), AA)
    cv2.circle(mask, thumb_tip, int(finger_w * 0.55), 255, -1, AA)
    rgb, _ = _blank(h, w)
    skin = skin_colour(rng)
    rgb[:] = skin
    rgb += rng.normal(0, 0.02, size=rgb.shape).astype(np.float32)  # faint skin grain
    shade(rgb, rng, 0.3)
    rgb[lines > 0] = np.clip(skin * 0.7, 0, 1)
    patch = _rgba(rgb, mask)
    return patch[:, ::-1].copy() if rng.random() < 0.5 else patch


def draw_phone(rng: np.random.Generator) -> np.ndarray:
    h, w = 150, int(150 * rng.uniform(0.45, 0.55))
    r = int(w * 0.15)
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1, AA)
    rgb, _ = _blank(h, w)
    rgb[:] = dark_colour(rng) if rng.random() < 0.6 else random_colour(rng)
    screen = rgb[int(h * 0.08) : int(h * 0.92), int(w * 0.07) : int(w * 0.93)]
    if rng.random() < 0.5:  # screen on: a bright gradient
        fill_texture(screen, random_colour(rng, value=(0.6, 1.0)), "solid", rng)
        shade(screen, rng, 0.6)
    else:
        screen[:] = rng.uniform(0.02, 0.12)
    cv2.circle(rgb, (w // 2, int(h * 0.04)), max(2, w // 20), (0.0, 0.0, 0.0), -1, AA)
    return _rgba(rgb, mask)


def draw_hair_fringe(rng: np.random.Generator) -> np.ndarray:
    h, w = 80, 170
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (0, 0), (w - 1, int(h * 0.3)), 255, -1)
    sweep = rng.uniform(-0.5, 0.5)  # side-swept fringe: strands lean together
    n = int(rng.integers(9, 16))
    for x in np.linspace(0, w, n) + rng.uniform(-5, 5, n):
        length = h * rng.uniform(0.55, 1.0)
        half = w / n * rng.uniform(0.6, 0.9)
        tip = (x + sweep * length, length)
        cv2.fillPoly(mask, [_poly([(x - half, h * 0.25), (x + half, h * 0.25), tip])], 255, AA)
    rgb, _ = _blank(h, w)
    base = hair_colour(rng)
    rgb[:] = base
    strands = np.zeros((h, w), np.float32)
    for _ in range(40):
        x = rng.uniform(0, w)
        cv2.line(strands, (int(x), 0), (int(x + sweep * h), h - 1), float(rng.choice([-1.0, 1.0])), 1, AA)
    rgb += strands[..., None] * 0.12
    shade(rgb, rng, 0.3)
    return _rgba(np.clip(rgb, 0, 1), mask)


def draw_hat_brim(rng: np.random.Generator) -> np.ndarray:
    h, w = 80, 190
    mask = np.zeros((h, w), np.uint8)
    crown_w = rng.uniform(0.28, 0.36) * w
    cv2.ellipse(mask, (w // 2, int(h * 0.45)), (int(crown_w), int(h * 0.45)), 0, 180, 360, 255, -1, AA)
    cv2.rectangle(mask, (int(w / 2 - crown_w), int(h * 0.44)), (int(w / 2 + crown_w), int(h * 0.62)), 255, -1)
    brim = np.zeros((h, w), np.uint8)
    cv2.ellipse(brim, (w // 2, int(h * 0.64)), (int(w * 0.49), int(h * rng.uniform(0.12, 0.2))), 0, 0, 360, 255, -1, AA)
    rgb, _ = _blank(h, w)
    base = random_colour(rng, value=(0.15, 0.9))
    fill_texture(rgb, base, str(rng.choice(["solid", "solid", "checks", "noise", "stripes"])), rng)
    shade(rgb, rng, 0.4)
    rgb[brim > 0] = np.clip(rgb[brim > 0] * 0.8, 0, 1)  # the brim is in its own shadow
    cv2.line(rgb, (int(w / 2 - crown_w), int(h * 0.55)), (int(w / 2 + crown_w), int(h * 0.55)), tuple(map(float, random_colour(rng))), int(rng.integers(3, 7)))
    return _rgba(rgb, np.maximum(mask, brim))


def draw_random_block(rng: np.random.Generator) -> np.ndarray:
    h = 100
    w = int(h * np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    rgb, _ = _blank(h, w)
    colour = random_colour(rng, saturation=(0.0, 0.8), value=(0.0, 1.0))
    fill_texture(rgb, colour, str(rng.choice(TEXTURES)), rng)
    return _rgba(rgb, np.full((h, w), 255, np.uint8))


def draw_noise_patch(rng: np.random.Generator) -> np.ndarray:
    h = 100
    w = int(h * np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    if rng.random() < 0.5:
        noise = rng.uniform(0, 1, size=(h, w, 1 if rng.random() < 0.6 else 3))
    else:
        noise = rng.normal(rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.3), size=(h, w, 1 if rng.random() < 0.6 else 3))
    if rng.random() < 0.4:  # blobs rather than pixel noise
        noise = cv2.GaussianBlur(noise.astype(np.float32), (0, 0), rng.uniform(1, 4)).reshape(h, w, -1)
        noise = (noise - noise.min()) / max(float(np.ptp(noise)), 1e-6)
    rgb = np.broadcast_to(np.clip(noise, 0, 1), (h, w, 3)).astype(np.float32)
    alpha = np.full((h, w), 255, np.uint8)
    if rng.random() < 0.4:
        alpha[:] = 0
        cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 255, -1, AA)
    return _rgba(rgb, alpha)


OCCLUDER_SPECS: dict[str, OccluderSpec] = {
    "sunglasses": OccluderSpec(draw_sunglasses, "both_eyes", 0.95, 8.0),
    "clear_glasses": OccluderSpec(draw_clear_glasses, "both_eyes", 0.95, 8.0),
    "surgical_mask": OccluderSpec(draw_surgical_mask, "lower_face", 0.95, 8.0),
    "cloth_mask": OccluderSpec(draw_cloth_mask, "lower_face", 0.95, 8.0),
    "scarf": OccluderSpec(draw_scarf, "mouth", 1.2, 10.0),
    "hand": OccluderSpec(draw_hand, "random", 0.5, 45.0),
    "phone": OccluderSpec(draw_phone, "random", 0.3, 40.0),
    "hair_fringe": OccluderSpec(draw_hair_fringe, "upper_face", 1.05, 10.0),
    "hat_brim": OccluderSpec(draw_hat_brim, "upper_face", 1.2, 8.0),
    "random_block": OccluderSpec(draw_random_block, "random", 0.35, 30.0),
    "noise_patch": OccluderSpec(draw_noise_patch, "random", 0.35, 30.0),
}

#: every built-in occluder kind, in a fixed order (the gallery's rows)
OCCLUDER_KINDS: tuple[str, ...] = tuple(OCCLUDER_SPECS)


def check_rng(rng: object) -> None:
    """A numpy Generator, as every occlusion draw takes (an int seed or None raised an AttributeError inside)."""
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")


def draw_occluder(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One freshly drawn occluder of ``kind``: (h, w, 4) uint8 RGBA."""
    check_rng(rng)
    if kind not in OCCLUDER_SPECS:
        raise ConfigError(f"unknown occluder kind {kind!r}; available: {', '.join(OCCLUDER_KINDS)} (or 'random', 'custom')")
    return OCCLUDER_SPECS[kind].draw(rng)
