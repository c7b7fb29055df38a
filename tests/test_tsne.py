"""t-SNE grid and STN grid figures."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.errors import ConfigError
from ferkit.evaluate.tsne import stn_grid, tsne_grid

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _panel(title: str, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 10)
    embeddings = rng.normal(size=(30, 8)) + 4.0 * np.eye(8)[labels]
    return title, embeddings, labels


def test_tsne_grid_writes_2x2_png(tmp_path) -> None:
    panels = [_panel(t, k) for k, t in enumerate(["CE clean", "CE occluded", "triplet clean", "triplet occluded"])]
    out = tsne_grid(panels, ("anger", "happiness", "surprise"), tmp_path / "figs" / "tsne.png", seed=0)
    assert out == tmp_path / "figs" / "tsne.png"
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in out.parent.iterdir()] == ["tsne.png"]  # no temp file left behind


def test_tsne_grid_one_row_and_errors(tmp_path) -> None:
    out = tsne_grid([_panel("only", 0)], ("a", "b", "c"), tmp_path / "one.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ConfigError, match="labels must index class_names"):
        tsne_grid([_panel("bad", 0)], ("a", "b"), tmp_path / "bad.png")
    with pytest.raises(ConfigError, match="embeddings"):
        tsne_grid([("bad", np.zeros((5, 2)), np.zeros(4, dtype=int))], ("a",), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_stn_grid_writes_png(tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(4, 1, 48, 48)).astype(np.float32)
    out = stn_grid(images, images[:, :, ::-1], tmp_path / "stn.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    rgb = rng.integers(0, 256, size=(2, 32, 32, 3)).astype(np.uint8)  # (N, H, W) per channel is not accepted
    with pytest.raises(ConfigError, match="stn_grid"):
        stn_grid(rgb, rgb, tmp_path / "rgb.png")
    out = stn_grid(rgb.transpose(0, 3, 1, 2), rgb.transpose(0, 3, 1, 2), tmp_path / "rgb.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
