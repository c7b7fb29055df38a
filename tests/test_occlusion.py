"""Drawn occluders, region/ratio-controlled placement, occluded datasets and the augmentation wrapper."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.data.dataset import FaceDataset
from ferkit.errors import ConfigError, DatasetError, FerkitError, ImageReadError
from ferkit.occlusion import (
    CANONICAL_LANDMARKS,
    OCCLUDER_KINDS,
    REGIONS,
    OcclusionRatioError,
    RandomOcclusion,
    apply_occlusion,
    draw_occluder,
    load_occluder_folder,
    occlude,
    occlude_dataset,
    save_occluder_gallery,
    synthetic_face,
)

FACE = synthetic_face(48)


def _ratio(mask: np.ndarray) -> float:
    return float(mask.mean())


@pytest.mark.parametrize("kind", OCCLUDER_KINDS)
def test_every_kind_draws_an_rgba_patch_with_some_opaque_pixels(kind: str) -> None:
    patch = draw_occluder(kind, np.random.default_rng(0))
    assert patch.dtype == np.uint8 and patch.ndim == 3 and patch.shape[2] == 4
    assert (patch[..., 3] > 127).mean() > 0.1
    other = draw_occluder(kind, np.random.default_rng(1))
    assert patch.shape != other.shape or not np.array_equal(patch, other)  # varied by the rng


@pytest.mark.parametrize("kind", ["random_block", "surgical_mask", "cloth_mask", "hand", "scarf", "phone"])
@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5, 0.7])
def test_covered_ratio_matches_target(kind: str, ratio: float) -> None:
    out, mask = occlude(FACE, kind=kind, region="random", occlusion_ratio=ratio, rng=np.random.default_rng(3))
    assert out.shape == FACE.shape and out.dtype == np.uint8 and mask.shape == FACE.shape and mask.dtype == bool
    assert abs(_ratio(mask) - ratio) <= 0.02
    assert (out[mask] != FACE[mask]).mean() > 0.5


def test_ratio_is_measured_on_the_face_box_and_works_at_other_sizes_and_rgb() -> None:
    image = cv2.resize(np.repeat(FACE[..., None], 3, axis=2), (112, 112))
    box = (16, 8, 96, 104)
    out, mask = occlude(image, kind="cloth_mask", region="lower_face", occlusion_ratio=0.3, rng=np.random.default_rng(0), face_box=box)
    assert out.shape == (112, 112, 3)
    x0, y0, x1, y1 = box
    assert abs(mask[y0:y1, x0:x1].mean() - 0.3) <= 0.02


def test_unreachable_ratio_raises_and_random_kind_falls_back() -> None:
    with pytest.raises(OcclusionRatioError, match="clear_glasses"):
        occlude(FACE, kind="clear_glasses", region="mouth", occlusion_ratio=0.7, rng=np.random.default_rng(0))
    result = apply_occlusion(FACE, kind="clear_glasses", region="mouth", occlusion_ratio=0.7, rng=np.random.default_rng(0), fallback_kinds=["random_block"])
    assert result.kind == "random_block" and abs(result.covered_ratio - 0.7) <= 0.02


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


@pytest.mark.parametrize(
    "region, x_range, y_range",
    [
        # left_eye = the eye on the IMAGE's left (the subject's right eye), as in MTCNN/RetinaFace landmarks.
        ("left_eye", (6, 22), (12, 26)),
        ("right_eye", (26, 42), (12, 26)),
        ("both_eyes", (18, 30), (12, 26)),
        ("nose", (18, 30), (22, 34)),
        ("mouth", (18, 30), (31, 43)),
        ("upper_face", (16, 32), (6, 22)),
        ("lower_face", (16, 32), (26, 42)),
    ],
)
def test_region_lands_on_the_intended_part_of_an_aligned_48px_crop(region: str, x_range, y_range) -> None:
    _, mask = occlude(FACE, kind="random_block", region=region, occlusion_ratio=0.05, rng=np.random.default_rng(0))
    x, y = _centroid(mask)
    assert x_range[0] <= x <= x_range[1] and y_range[0] <= y <= y_range[1], (x, y)


def test_landmarks_move_the_region() -> None:
    # The canonical face shrunk to the top-left quarter of a 96 px image, given as 5-point landmarks.
    landmarks = CANONICAL_LANDMARKS * 48
    image = np.full((96, 96), 128, np.uint8)
    _, mask = occlude(image, kind="random_block", region="right_eye", occlusion_ratio=0.01, rng=np.random.default_rng(0), landmarks=landmarks)
    x, y = _centroid(mask)
    assert abs(x - 0.69 * 48) < 4 and abs(y - 0.39 * 48) < 4


def test_same_seed_same_output_different_seed_differs() -> None:
    a = occlude(FACE, occlusion_ratio=0.3, rng=np.random.default_rng(7))
    b = occlude(FACE, occlusion_ratio=0.3, rng=np.random.default_rng(7))
    c = occlude(FACE, occlusion_ratio=0.3, rng=np.random.default_rng(8))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_natural_size_without_ratio_and_bad_arguments() -> None:
    out, mask = occlude(FACE, kind="sunglasses", region="natural", rng=np.random.default_rng(0))
    assert 0.05 < _ratio(mask) < 0.5 and _centroid(mask)[1] < 24  # on the eyes, upper half
    with pytest.raises(ConfigError, match="unknown occluder kind"):
        occlude(FACE, kind="helmet", rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="unknown region"):
        occlude(FACE, region="ear", rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="occlusion_ratio"):
        occlude(FACE, occlusion_ratio=1.5, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="uint8"):
        occlude(FACE.astype(np.float32), rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="landmarks"):
        occlude(FACE, rng=np.random.default_rng(0), landmarks=np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="rng"):
        occlude(FACE, rng=0)  # type: ignore[arg-type]


def _tiny_dataset(n: int = 20) -> FaceDataset:
    rng = np.random.default_rng(0)
    images = np.stack([np.clip(FACE.astype(int) + rng.integers(-10, 10, FACE.shape), 0, 255).astype(np.uint8) for _ in range(n)])
    labels = np.arange(n, dtype=np.int64) % 3
    return FaceDataset(images, labels, ("anger", "happiness", "sadness"), tuple(f"img{i}" for i in range(n)), name="tiny")


def test_occlude_dataset_occludes_the_requested_fraction_reproducibly() -> None:
    data = _tiny_dataset()
    occ, info = occlude_dataset(data, fraction=0.5, ratio_range=(0.1, 0.5), seed=3)
    assert occ.name == "occ-tiny" and np.array_equal(occ.labels, data.labels) and occ.ids == data.ids
    changed = (occ.images != data.images).reshape(len(data), -1).any(1)
    assert info.occluded.sum() == 10 and np.array_equal(changed, info.occluded)
    ratios = info.covered_ratios[info.occluded]
    assert np.all(np.abs(ratios - info.target_ratios[info.occluded]) <= 0.02)
    assert np.all((ratios > 0.08) & (ratios < 0.52))
    assert np.allclose([m.mean() for m in info.masks[info.occluded]], ratios)
    assert not info.masks[~info.occluded].any() and set(info.kinds) - {""} <= set(OCCLUDER_KINDS)
    summary = info.summary()
    assert summary["occluded"] == 10 and summary["seed"] == 3
    again, _ = occlude_dataset(data, fraction=0.5, seed=3)
    other, _ = occlude_dataset(data, fraction=0.5, seed=4)
    assert np.array_equal(again.images, occ.images) and not np.array_equal(other.images, occ.images)
    with pytest.raises(ConfigError, match="fraction"):
        occlude_dataset(data, fraction=1.5)
    with pytest.raises(ConfigError, match="ratio_range"):
        occlude_dataset(data, ratio_range=(0.5, 0.1))
    with pytest.raises(ConfigError, match="kinds"):
        occlude_dataset(data, kinds=("helmet",))


def test_random_occlusion_batch_wrapper() -> None:
    batch = _tiny_dataset(16).images
    aug = RandomOcclusion(p=0.5, ratio_range=(0.2, 0.3), kinds=("random_block", "hand"), regions=("mouth", "random"))
    out, masks = aug.apply(batch, np.random.default_rng(0))
    assert out.shape == batch.shape and out.dtype == np.uint8 and masks.shape == batch.shape
    hit = masks.reshape(16, -1).any(1)
    assert 3 <= hit.sum() <= 13
    assert np.all(np.abs(masks[hit].reshape(hit.sum(), -1).mean(1) - 0.25) <= 0.07)
    assert np.array_equal(out[~hit], batch[~hit])
    assert np.array_equal(aug(batch, np.random.default_rng(0)), out)
    assert np.array_equal(RandomOcclusion(p=0.0)(batch, np.random.default_rng(0)), batch)
    with pytest.raises(ConfigError, match="p "):
        RandomOcclusion(p=2.0)


def _write_rgba(path: Path, alpha: bool = True) -> None:
    image = np.zeros((20, 30, 4 if alpha else 3), np.uint8)
    image[..., 2] = 200
    if alpha:
        image[4:16, 5:25, 3] = 255
    cv2.imwrite(str(path), image)


def test_user_png_folder_loads_and_is_used(tmp_path: Path) -> None:
    _write_rgba(tmp_path / "a.png")
    _write_rgba(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("ignored")
    patches = load_occluder_folder(tmp_path)
    assert len(patches) == 2 and patches[0].shape == (12, 20, 4)  # trimmed to the opaque part
    assert patches[0][0, 0, 0] == 200  # BGR on disk -> RGB in memory
    out, mask = occlude(FACE, kind="custom", custom=patches, occlusion_ratio=0.2, region="nose", rng=np.random.default_rng(0))
    assert abs(mask.mean() - 0.2) <= 0.02


def test_user_png_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_occluder_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no .png"):
        load_occluder_folder(tmp_path / "empty")
    (tmp_path / "rgb").mkdir()
    _write_rgba(tmp_path / "rgb" / "flat.png", alpha=False)
    with pytest.raises(ImageReadError, match="flat.png.*no alpha"):
        load_occluder_folder(tmp_path / "rgb")
    with pytest.raises(FerkitError, match="custom"):
        occlude(FACE, kind="custom", rng=np.random.default_rng(0))


def test_gallery_writes_a_png(tmp_path: Path) -> None:
    out = save_occluder_gallery(tmp_path / "g.png", faces=1, size=48)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 48 * len(OCCLUDER_KINDS)
    assert list(tmp_path.iterdir()) == [out]  # atomic: no temporary file left behind


def test_regions_tuple() -> None:
    assert REGIONS == ("left_eye", "right_eye", "both_eyes", "nose", "mouth", "lower_face", "upper_face", "random")


# --- arguments checked (an audit of the occlusion API; each case failed inside numpy/cv2 or misbehaved silently) -----

def _small_dataset(n: int = 4) -> FaceDataset:
    return FaceDataset(np.stack([FACE] * n), np.zeros(n, np.int64), ("anger",), tuple(str(i) for i in range(n)), None, "faces")


@pytest.mark.parametrize("call, message", [
    (lambda rng: occlude(FACE, rng=rng, kind="custom", custom=np.zeros((8, 8, 4), np.uint8)), "wrap a single patch in a list"),
    (lambda rng: occlude(FACE, rng=rng, kind="custom", custom=[np.zeros((0, 0, 4), np.uint8)]), r"custom occluder #0 is empty"),
    (lambda rng: occlude(FACE, rng=rng, kind="custom", custom=[np.zeros((8, 8, 4), np.uint8)]), "fully transparent"),
    (lambda rng: apply_occlusion(FACE, rng=rng, kind="sunglasses", region="natural", landmarks=np.full((5, 2), 24.0)), "both eyes at"),
    (lambda rng: apply_occlusion(FACE, rng=rng, kind="sunglasses", region="natural", landmarks=CANONICAL_LANDMARKS * 48 + 500),
     "no landmark lies inside the 48x48 image"),
    (lambda rng: apply_occlusion(FACE, rng=rng, occlusion_ratio=0.3, tolerance=-0.01), r"tolerance .* must lie in \[0, 1\), got -0.01"),
    (lambda rng: apply_occlusion(FACE, rng=rng, occlusion_ratio=0.3, tolerance=float("nan")), "tolerance"),
    (lambda rng: draw_occluder("sunglasses", 0), "rng must be a numpy Generator"),
    (lambda rng: RandomOcclusion(p=1.0).apply(np.stack([FACE]), 0), "rng must be a numpy Generator"),
    (lambda rng: RandomOcclusion(p=1.0, tolerance=-1), "tolerance"),
    (lambda rng: occlude_dataset(_small_dataset(), seed=-1), "seed must be an int >= 0"),
    (lambda rng: occlude_dataset(_small_dataset(), seed=None), "seed must be an int >= 0"),
    (lambda rng: occlude_dataset(_small_dataset(), ratio_range=0.3), r"ratio_range \(shares of the face an occluder covers\) must be \(low, high\)"),
    (lambda rng: occlude_dataset(_small_dataset(), ratio_range=(0.1, 0.2, 0.3)), r"ratio_range \(shares of the face an occluder covers\) must be \(low, high\)"),
])
def test_occlusion_arguments_are_refused_by_name(call, message):
    with pytest.raises(FerkitError, match=message):
        call(np.random.default_rng(0))


@pytest.mark.parametrize("kwargs, message", [({"p": -1}, r"p \(share of images to erase\)"), ({"area": (0.5, 3.0)}, "0 < low <= high <= 1"),
                                             ({"area": (0.3, 0.1)}, "0 < low <= high <= 1"), ({"area": 0.2}, r"area \(shares of the image one rectangle covers\) must be")])
def test_erase_dataset_refuses_shares_outside_0_1(kwargs, message):
    """p=-1 erased nothing and area=(0.5, 3.0) erased 99.7% of the pixels, silently."""
    from ferkit.occlusion.erasing import erase_dataset

    with pytest.raises(ConfigError, match=message):
        erase_dataset(_small_dataset(), **kwargs)


def test_load_occluder_png_names_a_missing_file_and_expands_home(tmp_path, monkeypatch):
    """A missing file was reported as "cannot decode ... must be a valid PNG", and ~/x.png was never looked for."""
    from ferkit.occlusion import load_occluder_png

    with pytest.raises(ImageReadError, match="image file not found"):
        load_occluder_png(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="is a folder"):
        load_occluder_png(tmp_path)
    patch = np.zeros((10, 12, 4), np.uint8)
    patch[2:8, 3:9] = (255, 0, 0, 255)
    cv2.imwrite(str(tmp_path / "x.png"), patch)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_occluder_png("~/x.png").shape == (6, 6, 4)


@pytest.mark.parametrize("kwargs, name, message", [({"faces": 0}, "g.png", "faces must be >= 1"), ({"size": 0}, "g.png", "size must be >= 16"),
                                                   ({}, "g.jpg", "written as PNG; give a .png file name")])
def test_gallery_refuses_empty_grids_and_misleading_names(tmp_path, kwargs, name, message):
    with pytest.raises(ConfigError, match=message):
        save_occluder_gallery(tmp_path / name, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_the_width_search_measures_exactly_what_render_draws() -> None:
    """``coverage`` renders the opacity alone (half the work of the RGBA render the width search used to do); any
    difference in the last bit would move the chosen width, so it is checked bit for bit against ``render``."""
    from ferkit.occlusion.occluders import OCCLUDER_KINDS, draw_occluder
    from ferkit.occlusion.placement import FaceFrame, PatchRenderer

    rng = np.random.default_rng(7)
    for kind in OCCLUDER_KINDS:
        patch = draw_occluder(kind, rng)
        for image_hw in ((48, 48), (120, 90)):
            frame = FaceFrame.build(image_hw, None, None)
            layer = PatchRenderer(patch, (rng.uniform(10, 40), rng.uniform(10, 40)), rng.uniform(-30, 30), image_hw)
            halves = [patch.shape[1] / k for k in (2, 3, 5) if patch.shape[1] % k == 0 and patch.shape[0] % k == 0]
            for width in [*rng.uniform(2, 200, 6), *halves]:  # OpenCV shrinks by whole factors on its own path
                alpha = layer.render(float(width))[..., 3]
                assert np.array_equal(layer._placed(float(width), opacity_only=True)[..., 0], alpha), (kind, image_hw, width)
                assert layer.coverage(float(width), frame) == frame.covered(alpha > 0.5)


def test_texture_grids_give_every_pixel_its_mgrid_coordinates() -> None:
    from ferkit.occlusion.textures import _pixel_grid

    yy, xx = np.broadcast_arrays(*_pixel_grid(5, 7))
    full_y, full_x = np.mgrid[0:5, 0:7].astype(np.float32)
    assert np.array_equal(yy, full_y) and np.array_equal(xx, full_x) and yy.dtype == np.float32
