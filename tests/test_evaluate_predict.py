"""Test-time augmentation views against crops cut by hand (and resized by OpenCV, not torch), and the averaged
probabilities against the model's softmax over those views."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from ferkit.artifacts.preprocess import to_model_input
from ferkit.evaluate.predict import predict_probabilities, views

SIDE, CROP = 48, 43  # tencrop cuts 90% of the side: round(43.2) = 43 pixels


def hand_cut_ten_crops(image: np.ndarray) -> list[np.ndarray]:
    """(48, 48) float32 -> the four corner crops, the centre crop (offset (48 - 43) // 2 = 2), each resized back to 48 x 48
    with OpenCV's bilinear resize, then their horizontal mirrors, in that order."""
    tops_lefts = [(0, 0), (0, 5), (5, 0), (5, 5), (2, 2)]
    crops = [cv2.resize(image[t : t + CROP, l : l + CROP], (SIDE, SIDE), interpolation=cv2.INTER_LINEAR) for t, l in tops_lefts]
    return crops + [c[:, ::-1] for c in crops]


def test_tencrop_views_are_the_corner_and_centre_crops_and_their_mirrors():
    x = torch.rand(2, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
    got = views(x, "tencrop")
    assert len(got) == 10 and all(v.shape == x.shape for v in got)
    for b in range(2):
        expected = hand_cut_ten_crops(x[b, 0].numpy())
        for i, (view, crop) in enumerate(zip(got, expected)):
            np.testing.assert_allclose(view[b, 0].numpy(), crop, atol=1e-5, err_msg=f"view {i} of image {b}")


class PixelLinear(nn.Module):
    """A fixed linear map from pixels to 3 logits: sensitive to where every pixel lands."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(SIDE * SIDE, 3)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(3, SIDE * SIDE, generator=torch.Generator().manual_seed(1)) * 0.05)
            self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


def test_tencrop_probabilities_average_the_softmax_over_the_hand_cut_views():
    images = np.random.default_rng(2).integers(0, 256, (3, SIDE, SIDE), dtype=np.uint8)
    model = PixelLinear()
    probs = predict_probabilities(model, images, tta="tencrop", batch_size=2)  # two batches
    x = to_model_input(torch.from_numpy(images))
    expected = np.zeros((3, 3))
    for b in range(3):
        crops = torch.from_numpy(np.stack([c.copy() for c in hand_cut_ten_crops(x[b, 0].numpy())]))
        expected[b] = torch.softmax(model(crops.unsqueeze(1)), dim=1).mean(0).detach().numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert not np.allclose(probs, predict_probabilities(model, images, tta="none"), atol=1e-3)  # the views matter here


@pytest.mark.parametrize("tta,count", [("none", 1), ("flip", 2)])
def test_plain_and_flip_views(tta, count):
    x = torch.rand(1, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(3))
    got = views(x, tta)
    assert len(got) == count and torch.equal(got[0], x)
    if tta == "flip":
        assert torch.equal(got[1], x.flip(-1))
