"""Class weights, weighted softmax, centre loss and weighted-cluster loss against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from ferkit.errors import ConfigError
from ferkit.losses import build_loss
from ferkit.losses.centers import CenterLoss, WeightedClusterLoss, class_weights_from_counts, weighted_cluster_term


def test_inverse_weights_by_hand_and_match_sklearn_balanced():
    # counts (1, 4, 16), N = 21, K = 3: w_c = 21 / (3 n_c) = 7, 1.75, 0.4375
    weights = class_weights_from_counts([1, 4, 16], "inverse")
    assert torch.allclose(weights, torch.tensor([7.0, 1.75, 0.4375]))
    labels = np.repeat([0, 1, 2], [1, 4, 16])
    sklearn_weights = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert np.allclose(weights.numpy(), sklearn_weights)


def test_inverse_sqrt_and_effective_weights_by_hand():
    # 1/sqrt(n) = (1, 1/2, 1/4); sum n*raw = 1 + 2 + 4 = 7; scale = 21 / 7 = 3
    assert torch.allclose(class_weights_from_counts([1, 4, 16], "inverse_sqrt"), torch.tensor([3.0, 1.5, 0.75]))
    # beta = 0.5, counts (1, 2): raw = 0.5/0.5 = 1, 0.5/0.75 = 2/3; sum n*raw = 7/3; scale = 3 / (7/3) = 9/7
    assert torch.allclose(class_weights_from_counts([1, 2], "effective", beta=0.5), torch.tensor([9 / 7, 6 / 7]))


def test_absent_class_gets_zero_weight_and_bad_counts_raise():
    # raw (0, 1/2, 1/2); sum n*raw = 2; N = 4 -> scale 2
    assert torch.allclose(class_weights_from_counts([0, 2, 2]), torch.tensor([0.0, 1.0, 1.0]))
    for counts in ([], [0, 0], [3, -1]):
        with pytest.raises(ConfigError, match="class_counts"):
            class_weights_from_counts(counts)
    with pytest.raises(ConfigError, match="scheme"):
        class_weights_from_counts([1, 2], "balanced")
    with pytest.raises(ConfigError, match="beta"):
        class_weights_from_counts([1, 2], "effective", beta=1.0)
    with pytest.raises(ConfigError, match="one count per class"):
        build_loss("weighted_ce", num_classes=3, embedding_dim=2, class_counts=[1, 2])


def test_weighted_softmax_by_hand():
    # counts (1, 3) -> w = (2, 2/3). Sample 1: logits (0, 0), label 0 -> CE = ln 2.
    # Sample 2: logits (ln 3, 0), label 1 -> p = 1/4, CE = ln 4 = 2 ln 2.
    # (2 ln 2 + 2/3 * 2 ln 2) / (2 + 2/3) = (10/3 ln 2) / (8/3) = 5/4 ln 2
    criterion = build_loss("weighted_ce", num_classes=2, embedding_dim=2, class_counts=[1, 3])
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]], requires_grad=True)
    total, parts = criterion(torch.zeros(2, 2), logits, torch.tensor([0, 1]))
    assert total.item() == pytest.approx(1.25 * math.log(2.0), rel=1e-6)
    assert set(parts) == {"ce"}
    total.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_center_loss_value_and_gradients_by_hand():
    criterion = build_loss("center", num_classes=2, embedding_dim=2, class_counts=[2, 1], center_weight=0.1)
    assert isinstance(criterion, CenterLoss) and criterion.param_lr == 0.5
    with torch.no_grad():
        criterion.centers.copy_(torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [2.0, 1.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1])
    total, parts = criterion(x, torch.zeros(3, 2), labels)
    # squared distances 1, 4, 1 -> mean 2 -> 0.5 * 2 = 1; times 0.1. CE of zero logits = ln 2.
    assert parts["center"] == pytest.approx(0.1)
    assert parts["ce"] == pytest.approx(math.log(2.0))
    assert total.item() == pytest.approx(0.1 + math.log(2.0), rel=1e-6)
    total.backward()
    # features: 0.1 * (x - c) / 3
    assert torch.allclose(x.grad, 0.1 / 3 * torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 1.0]]))
    # centres (Wen et al.): sum (c_j - x_i) / (1 + n_j): c0: ((-1, 0) + (0, -2)) / 3, c1: (0, -1) / 2; no lambda
    assert torch.allclose(criterion.centers.grad, torch.tensor([[-1 / 3, -2 / 3], [0.0, -0.5]]))


def test_weighted_cluster_by_hand():
    criterion = build_loss("weighted_cluster", num_classes=3, embedding_dim=2, class_counts=[1, 3, 2], cluster_weight=1.0)
    assert isinstance(criterion, WeightedClusterLoss) and criterion.param_lr == 0.5
    with torch.no_grad():
        criterion.centers.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]]))
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 1.0]])
    # w = 6 / (3 n) = (2, 2/3, 1). Centre distances^2: c0c1 25, c0c2 16, c1c2 9 -> D = (20.5, 17, 12.5), +1.
    # intra = (1, 4, 9). L = 1/6 * (2*1/21.5 + 2/3*4/18 + 1*9/13.5) = 1/6 * (4/43 + 4/27 + 2/3) = 527/3483
    total, parts = criterion(x, torch.zeros(3, 3), torch.tensor([0, 1, 2]))
    assert parts["cluster"] == pytest.approx(527 / 3483, rel=1e-6)
    assert parts["ce"] == pytest.approx(math.log(3.0), rel=1e-6)
    assert total.item() == pytest.approx(527 / 3483 + math.log(3.0), rel=1e-6)


def test_weighted_cluster_matches_brute_force_loop():
    torch.manual_seed(0)
    x, centers = torch.randn(9, 4), torch.randn(3, 4)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    weights = torch.tensor([0.5, 1.0, 2.0])
    expected = 0.0
    for i in range(9):
        k = int(labels[i])
        inter = sum(float(((centers[k] - centers[j]) ** 2).sum()) for j in range(3) if j != k) / 2
        expected += float(weights[k]) * float(((x[i] - centers[k]) ** 2).sum()) / (inter + 1.0)
    expected *= 0.5 / 9
    assert weighted_cluster_term(x, labels, centers, weights).item() == pytest.approx(expected, rel=1e-5)


def test_weighted_cluster_centre_gradient_pull_is_wen_update():
    # With a huge delta the push part vanishes and the centre gradient is Wen et al.'s
    # Delta c_j = sum (c_j - x_i) / (1 + n_j): the same numbers as the centre-loss test.
    criterion = WeightedClusterLoss(2, 2, torch.tensor([3.0, 0.5]), cluster_weight=0.1, delta=1e8)
    with torch.no_grad():
        criterion.centers.copy_(torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [2.0, 1.0]])
    criterion.compute(x, torch.zeros(3, 2), torch.tensor([0, 0, 1]))["cluster"].backward()
    assert torch.allclose(criterion.centers.grad, torch.tensor([[-1 / 3, -2 / 3], [0.0, -0.5]]), atol=1e-5)


def test_weighted_cluster_centre_gradient_is_scaled_pull_plus_plain_push():
    # Brute force: the pull gradient (through ||x_i - c_k||^2, denominators fixed) scaled by
    # s_k = B (D_k + 1) / (w_k (1 + n_k)), plus the plain push gradient (through the D's only).
    torch.manual_seed(1)
    x = torch.randn(7, 3)
    labels = torch.tensor([0, 1, 2, 0, 1, 0, 1])
    weights = torch.tensor([0.5, 1.0, 2.0])
    criterion = WeightedClusterLoss(4, 3, torch.cat([weights, torch.tensor([1.5])]))  # class 3 absent from the batch
    criterion.compute(x, torch.zeros(7, 4), labels)["cluster"].backward()

    def brute(pull: bool) -> torch.Tensor:
        centers = criterion.centers.detach().clone().requires_grad_(True)
        fixed = centers.detach()
        intra_c, inter_c = (centers, fixed) if pull else (fixed, centers)
        loss = 0.0
        for i in range(7):
            k = int(labels[i])
            inter = sum(((inter_c[k] - inter_c[j]) ** 2).sum() for j in range(4) if j != k) / 3
            loss = loss + criterion.class_weights[k] * ((x[i] - intra_c[k]) ** 2).sum() / (inter + 1.0)
        (0.5 / 7 * loss).backward()
        return centers.grad

    pull, push = brute(True), brute(False)
    centers = criterion.centers.detach()
    for k in range(4):
        n_k = int((labels == k).sum())
        inter = sum(float(((centers[k] - centers[j]) ** 2).sum()) for j in range(4) if j != k) / 3
        scale = 7 * (inter + 1.0) / (float(criterion.class_weights[k]) * (1 + n_k))
        assert torch.allclose(criterion.centers.grad[k], scale * pull[k] + push[k], rtol=1e-4, atol=1e-6)
    assert pull[3].abs().sum() == 0 and criterion.centers.grad[3].abs().sum() > 0  # an absent class's centre is still pushed away


def test_weighted_cluster_centres_stay_finite_when_classes_are_missing_from_batches():
    # Regression: preconditioning the push part too sent the centres of absent classes to infinity
    # (NaN after 3 FER2013 epochs). 300 SGD steps on batches that lack most classes must stay bounded.
    torch.manual_seed(0)
    criterion = WeightedClusterLoss(7, 16, torch.tensor([0.8, 9.0, 0.8, 0.5, 0.7, 1.0, 0.7]))
    optimizer = torch.optim.SGD(criterion.parameters(), lr=0.5)
    for step in range(300):
        labels = torch.tensor([step % 7, (step + 3) % 7] * 8)
        x = torch.randn(16, 16) * 3 + labels[:, None].float()
        optimizer.zero_grad()
        criterion.compute(x, torch.zeros(16, 7), labels)["cluster"].backward()
        optimizer.step()
    assert torch.isfinite(criterion.centers).all() and criterion.centers.abs().max() < 1e3


def test_cluster_weight_scales_feature_gradient_only():
    def grads(cluster_weight):
        torch.manual_seed(0)
        criterion = WeightedClusterLoss(3, 4, torch.tensor([0.5, 1.0, 2.0]), cluster_weight=cluster_weight)
        x = torch.randn(6, 4, requires_grad=True)
        criterion.compute(x, torch.zeros(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]))["cluster"].backward()
        return x.grad.clone(), criterion.centers.grad.clone()

    x_grad_1, center_grad_1 = grads(1.0)
    x_grad_2, center_grad_2 = grads(0.25)
    assert torch.allclose(x_grad_2, 0.25 * x_grad_1)
    assert torch.allclose(center_grad_2, center_grad_1)
    assert center_grad_1.abs().sum() > 0


def test_weighted_ce_option_weights_the_ce_part():
    criterion = build_loss("weighted_cluster", num_classes=2, embedding_dim=2, class_counts=[1, 3], weighted_ce=True)
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    parts = criterion.compute(torch.zeros(2, 2), logits, torch.tensor([0, 1]))
    assert parts["ce"].item() == pytest.approx(1.25 * math.log(2.0), rel=1e-6)  # as in the weighted-softmax test


def _toy_features(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    means = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    labels = torch.arange(3).repeat_interleave(20)
    x = means[labels] + 0.3 * torch.randn(60, 2, generator=generator)
    class_means = torch.stack([x[labels == k].mean(0) for k in range(3)])
    return x, labels, class_means


def fit_centres(criterion, optimizer, x, labels, class_means, after_step=None) -> tuple[torch.Tensor, torch.Tensor]:
    """100 steps on batches of 16 of the toy features (only the criterion's loss); the centres' largest and last
    distance to their class means."""
    generator, worst = torch.Generator().manual_seed(1), torch.zeros(len(class_means))
    for _ in range(100):
        batch = torch.randperm(len(x), generator=generator)[:16]
        optimizer.zero_grad()
        total, _ = criterion(x[batch], torch.zeros(16, 3), labels[batch])
        total.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        worst = torch.maximum(worst, (criterion.centers.detach() - class_means).norm(dim=1))
    return worst, (criterion.centers.detach() - class_means).norm(dim=1)


@pytest.mark.parametrize("name", ["center", "weighted_cluster"])
def test_centres_move_to_class_means_on_toy_2d_problem(name):
    torch.manual_seed(0)
    x, labels, class_means = _toy_features(0)
    criterion = build_loss(name, num_classes=3, embedding_dim=2, class_counts=[20, 20, 20])
    optimizer = torch.optim.SGD(criterion.parameters(), lr=criterion.param_lr)
    start = (criterion.centers.detach() - class_means).norm(dim=1)
    _, end = fit_centres(criterion, optimizer, x, labels, class_means)
    assert bool((end < 0.25).all()), (start, end)
    assert bool((end < 0.2 * start).all())


def test_weighted_cluster_trains_a_tiny_network():
    torch.manual_seed(0)
    x, labels, _ = _toy_features(2)
    embed, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 3)
    criterion = build_loss("weighted_cluster", num_classes=3, embedding_dim=2, class_counts=[20, 20, 20], cluster_weight=1.0)
    optimizer = torch.optim.SGD(
        [{"params": [*embed.parameters(), *head.parameters()], "lr": 0.1}, {"params": criterion.parameters(), "lr": criterion.param_lr}]
    )
    first = None
    for _ in range(150):
        z = embed(x)
        total, parts = criterion(z, head(z), labels)
        first = first if first is not None else parts
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert parts["ce"] < 0.5 * first["ce"] and parts["cluster"] < first["cluster"]
    assert (head(embed(x)).argmax(1) == labels).float().mean() == 1.0


@pytest.mark.parametrize("name", ["center", "weighted_cluster"])
def test_trainers_optimizer_moves_centres_by_plain_steps_under_one_cycle(name):
    """Through the trainer's own optimizer and schedule (SGD Nesterov 0.9, one-cycle): the centres' group keeps
    momentum 0 at every step, so each step is Wen et al.'s c -= alpha * delta_c and no centre overshoots its class
    mean on the way (with the network's momentum each step was about 10 alpha)."""
    from ferkit.train.config import Recipe
    from ferkit.train.optim import build_optimizer, build_scheduler

    torch.manual_seed(0)
    x, labels, class_means = _toy_features(0)
    criterion = build_loss(name, num_classes=3, embedding_dim=2, class_counts=[20, 20, 20])
    recipe = Recipe(name="t", loss=name, optimizer="sgd", lr=0.05, momentum=0.9, schedule="onecycle", epochs=10)
    optimizer = build_optimizer(recipe, torch.nn.Linear(2, 3), criterion)
    scheduler, per_batch = build_scheduler(recipe, optimizer, 10)
    centres = optimizer.param_groups[-1]
    assert per_batch and centres["params"] == [criterion.centers] and centres["lr"] == pytest.approx(criterion.param_lr * 0.04)  # one-cycle starts at max / 25
    start = (criterion.centers.detach() - class_means).norm(dim=1)

    def after_step() -> None:
        scheduler.step()
        assert centres["momentum"] == 0.0 and not centres["nesterov"]

    worst, end = fit_centres(criterion, optimizer, x, labels, class_means, after_step)
    assert bool((end < 0.25).all()) and bool((worst <= start + 1e-6).all()), (start, worst, end)
