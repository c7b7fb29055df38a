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
register_recipe(Recipe(
    name="tiny-smoke", version=1, description="Seconds-long run for tests and smoke checks",
    model="modified_resnet18", epochs=2, batch_size=16, optimizer="adam", lr=1e-3, schedule="none",
))


# --- Paper 000/001 (TL-STN), issue 3. Paper: 224 px, Adam 1e-3, batch 8 triplets; here 48 px. ---
_ERASED_CK = AugmentConfig(erasing_p=0.5, erasing_area=(0.02, 0.25))  # "randomly erased CK+" (train side)
STN_CE_CK = register_recipe(Recipe(
    name="ckplus-stn-resnet18-ce", version=1,
    description="Paper 000 Table 2 row 1: STN + original ResNet-18, cross-entropy, Adam 1e-3, randomly erased CK+",
    model="stn_resnet18", loss="ce", epochs=20, batch_size=24, optimizer="adam", lr=1e-3, weight_decay=0.0,
    schedule="cosine", augment=_ERASED_CK, protocol="kfold10",
))
register_recipe(dataclasses.replace(
    STN_CE_CK, name="ckplus-tlstn-ce", description="Paper 000 Table 2 row 2: STN + modified ResNet-18, cross-entropy", model="tl_stn",
))
register_recipe(dataclasses.replace(
    STN_CE_CK, name="ckplus-tlstn-triplet",
    description="Paper 000 Table 2 row 3 (TL-STN): STN + modified ResNet-18, triplet loss (margin 1, Euclidean) + jointly trained softmax head, 8 triplets per batch",
    model="tl_stn", loss="triplet_abn", loss_kwargs={"margin": 1.0, "distance": "euclidean", "ce_weight": 1.0},
    sampler="triplet", batch_size=8,
))
TLSTN_FER = register_recipe(Recipe(
    name="fer2013-tlstn", version=1,
    description="Paper 000 Table 3: STN + modified ResNet-18 + triplet loss (margin 1, Euclidean) + softmax head, Adam one-cycle 1e-3",
    model="tl_stn", model_kwargs={"dropout": 0.2}, loss="triplet_abn", loss_kwargs={"margin": 1.0, "distance": "euclidean", "ce_weight": 1.0},
    sampler="triplet", sampler_kwargs={"triplets_per_epoch": 9570}, batch_size=43, epochs=8, optimizer="adam", lr=1e-3,
    weight_decay=0.0, schedule="onecycle",
))
register_recipe(dataclasses.replace(
    TLSTN_FER, name="fer2013-stn-resnet18-tl", description="Paper 000 Table 3: STN + original ResNet-18 + triplet loss + softmax head",
    model="stn_resnet18",
))

# --- Paper 002 (triplet embeddings + SVM), issue 4. ---
EMBED_FER = register_recipe(Recipe(
    name="fer2013-embed-triplet", version=1,
    description="Paper 002: 128-D unit-norm embeddings, online semi-hard triplet mining in class-balanced P x K batches, Adam 1e-3 "
                "with x0.9 on a 5-epoch plateau; flips, rotation and random crop",
    model="modified_resnet18", model_kwargs={"embedding_dim": 128, "normalize_embedding": True},
    loss="triplet", loss_kwargs={"margin": 0.2, "miner": "semi_hard", "ce_weight": 0.0},
    sampler="pk", sampler_kwargs={"samples_per_class": 16}, batch_size=112, epochs=8, optimizer="adam", lr=1e-3, weight_decay=0.0,
    schedule="plateau", schedule_kwargs={"factor": 0.9, "patience": 5}, val_classifier="nearest_centroid",
    augment=AugmentConfig(hflip=True, vflip=True, rotation_deg=15, scale=0.1, translate=0.1, brightness=0.0, contrast=0.0, erasing_p=0.0),
))
register_recipe(dataclasses.replace(
    EMBED_FER, name="fer2013-embed-triplet-noweight", description="Paper 002 ablation: as fer2013-embed-triplet without weighted (class-balanced) sampling",
    sampler_kwargs={"samples_per_class": 16, "class_balanced": False},
))

# --- Paper 003 (occlusion-aware double channel), issue 5. ---
_OCC_TRAIN = AugmentConfig(erasing_p=0.0, occlusion_p=0.5, occlusion_ratio=(0.1, 0.5))  # paper: half occluded, <= 50% covered
OCC_SINGLE_CK = register_recipe(Recipe(
    name="ckplus-occnet-single", version=1,
    description="Paper 003 single channel: occlusion-adaptive module on a modified ResNet-18 trunk, cross-entropy, SGD 0.01 step decay, OCC-CK+ training",
    model="occlusion_net", model_kwargs={"backbone": "modified_resnet18", "alpha": 0.5, "normalize_embedding": True},
    loss="ce", epochs=10, batch_size=32, optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4,
    schedule="step", schedule_kwargs={"step_epochs": 7, "gamma": 0.1}, augment=_OCC_TRAIN, protocol="kfold10",
))
register_recipe(dataclasses.replace(
    OCC_SINGLE_CK, name="ckplus-occnet-double",
    description="Paper 003 double channel (Siamese): reference/sample pairs, L = 2 * contrastive + CE1 + CE2",
    loss="siamese", loss_kwargs={"margin": 1.0, "contrastive_weight": 2.0}, sampler="pairs", batch_size=16,
))
register_recipe(dataclasses.replace(
    OCC_SINGLE_CK, name="ckplus-ce-modres18-occ", description="Paper 003 baseline: plain modified ResNet-18, cross-entropy, OCC-CK+ training",
    model="modified_resnet18", model_kwargs={},
))
OCC_DOUBLE_FER = register_recipe(Recipe(
    name="fer2013-occnet-double", version=1,
    description="Paper 003 double channel on FER2013: pairs, 2 * contrastive + CE1 + CE2, SGD one-cycle, synthetic occluders on half the faces",
    model="occlusion_net", model_kwargs={"backbone": "modified_resnet18", "alpha": 0.5, "normalize_embedding": True, "dropout": 0.2},
    loss="siamese", loss_kwargs={"margin": 1.0, "contrastive_weight": 2.0}, sampler="pairs", batch_size=64, epochs=8,
    optimizer="sgd", lr=0.05, weight_decay=5e-4, schedule="onecycle", augment=dataclasses.replace(AugmentConfig(), erasing_p=0.0, occlusion_p=0.5),
))

# --- Paper 004 (weighted-cluster loss, transfer), issue 6: same backbone and budget for each loss. ---
LOSS_BASE = register_recipe(Recipe(
    name="fer2013-loss-ce", version=1, description="Paper 004 comparison: cross-entropy (modified ResNet-18, 4 epochs)",
    model="modified_resnet18", model_kwargs={"dropout": 0.2}, loss="ce", epochs=4, batch_size=128, optimizer="sgd", lr=0.05,
    weight_decay=5e-4, schedule="onecycle",
))
register_recipe(dataclasses.replace(LOSS_BASE, name="fer2013-loss-weighted-ce", description="Paper 004 comparison: weighted softmax (inverse class frequency)", loss="weighted_ce"))
register_recipe(dataclasses.replace(LOSS_BASE, name="fer2013-loss-center", description="Paper 004 comparison: cross-entropy + center loss", loss="center"))
register_recipe(dataclasses.replace(LOSS_BASE, name="fer2013-loss-weighted-cluster", description="Paper 004: cross-entropy + weighted-cluster loss", loss="weighted_cluster"))

# --- The shipped default model (issue 7): the best CPU-budget recipe, trained with synthetic occluders. ---
DEFAULT_OCC = register_recipe(Recipe(
    name="fer2013-default-modres18-occ", version=1,
    description="Default model: modified ResNet-18, CE + label smoothing, SGD nesterov one-cycle 0.05, 20 epochs; flips, affine, "
                "brightness/contrast, random erasing 0.25 and synthetic occluders (sunglasses, masks, hands...) on 40% of faces",
    model="modified_resnet18", model_kwargs={"dropout": 0.2}, loss="ce", loss_kwargs={"label_smoothing": 0.1},
    epochs=20, batch_size=128, optimizer="sgd", lr=0.05, weight_decay=5e-4, schedule="onecycle",
    augment=AugmentConfig(erasing_p=0.25, occlusion_p=0.4, occlusion_ratio=(0.1, 0.5)),
))
register_recipe(Recipe(
    name="fer2013-default-modres18-occ", version=2,
    description="Default model, two stages: starts from fer2013-ce-modres18-v1 (15 epochs, clean) and continues 10 epochs with "
                "synthetic occluders on 40% of faces and random erasing 0.25, AdamW 5e-4 cosine; CE + label smoothing",
    model="modified_resnet18", model_kwargs={"dropout": 0.2}, loss="ce", loss_kwargs={"label_smoothing": 0.1},
    epochs=10, batch_size=128, optimizer="adamw", lr=5e-4, weight_decay=0.01, schedule="cosine",
    augment=AugmentConfig(erasing_p=0.25, occlusion_p=0.4, occlusion_ratio=(0.1, 0.5)),
    init_weights="runs/fer2013-ce-modres18/best.pt",
))

# Paper 003 on CK+ at a CPU budget: the paper's SGD 0.01 with step decay did not train in 10 epochs
# from scratch (v1: first five folds 31-42%), so v2 uses SGD one-cycle with peak 0.05 for 20 epochs.
OCC_SINGLE_CK2 = register_recipe(dataclasses.replace(
    OCC_SINGLE_CK, version=2, description=OCC_SINGLE_CK.description.replace("SGD 0.01 step decay", "SGD one-cycle 0.05, 20 epochs"),
    epochs=20, lr=0.05, schedule="onecycle", schedule_kwargs={},
))
register_recipe(dataclasses.replace(
    OCC_SINGLE_CK2, name="ckplus-occnet-double",
    description="Paper 003 double channel (Siamese): reference/sample pairs, L = 2 * contrastive + CE1 + CE2, SGD one-cycle 0.05, 20 epochs",
    loss="siamese", loss_kwargs={"margin": 1.0, "contrastive_weight": 2.0}, sampler="pairs", batch_size=16,
))
register_recipe(dataclasses.replace(
    OCC_SINGLE_CK2, name="ckplus-ce-modres18-occ",
    description="Paper 003 baseline: plain modified ResNet-18, cross-entropy, OCC-CK+ training, SGD one-cycle 0.05, 20 epochs",
    model="modified_resnet18", model_kwargs={},
))

# TL-STN v2: with the localization network at the full Adam lr, STN + modified ResNet-18 stayed at the
# majority class (CK+ CE on the random split: 41%; FER2013: 25% after 3 epochs). The usual remedy for
# unstable spatial transformers is a smaller learning rate for the localization network: 0.1x here.
register_recipe(dataclasses.replace(RECIPES["ckplus-tlstn-ce-v1"], version=2, input_transform_lr_mult=0.1))
register_recipe(dataclasses.replace(RECIPES["ckplus-tlstn-triplet-v1"], version=2, input_transform_lr_mult=0.1))
register_recipe(dataclasses.replace(TLSTN_FER, version=2, input_transform_lr_mult=0.1))

# Default model v3: one stage from scratch, 60 epochs (v2 had 15 clean + 10 occluded). On the CPU this is
# the longest budget a session allows (~80 min with one thread); the GPU is where it should grow.
register_recipe(dataclasses.replace(
    DEFAULT_OCC, version=3,
    description="Default model: modified ResNet-18, CE + label smoothing 0.1, SGD nesterov one-cycle 0.1, 60 epochs; flips, affine, "
                "brightness/contrast, random erasing 0.25 and synthetic occluders (sunglasses, masks, hands...) on 40% of faces",
    epochs=60, lr=0.1,
))

# Default model v4 (third session, CPU again): an ensemble. v3 trained at 58.7% augmented train accuracy
# and did not gain in its last 10 epochs, and a longer or wider network does not fit a CPU session, so more
# members are trained with the v3 recipe and other seeds; their averaged probabilities make the
# shipped model (see ferkit.models.ensemble). Members are chosen on PublicTest, never on PrivateTest.
DEFAULT_V3 = RECIPES["fer2013-default-modres18-occ-v3"]
for _seed in (1, 2, 3):
    register_recipe(dataclasses.replace(
        DEFAULT_V3, name=f"fer2013-default-member-seed{_seed}", version=1, seed=_seed,
        description=f"Default-model ensemble member: the fer2013-default-modres18-occ-v3 recipe with seed {_seed}",
    ))

# Paper 002 v2: v1's pure semi-hard triplet loss from random weights stayed near chance on FER2013
# in 8 CPU epochs (27.9%). v2 starts the backbone from the cross-entropy baseline (our stage 1,
# trained on Training and selected on PublicTest) and trains the new 128-D embedding with the
# paper's pure triplet loss, the backbone at 0.1x the learning rate.
EMBED_FER2 = register_recipe(dataclasses.replace(
    EMBED_FER, version=2,
    description=EMBED_FER.description + "; backbone initialised from fer2013-ce-modres18-v1 at 0.1x the learning rate, 6 epochs",
    epochs=6, init_weights="runs/fer2013-ce-modres18/best.pt", backbone_lr_mult=0.1,
))
register_recipe(dataclasses.replace(
    EMBED_FER2, name="fer2013-embed-triplet-noweight",
    description=EMBED_FER2.description + "; ablation: without weighted (class-balanced) sampling",
    sampler_kwargs={"samples_per_class": 16, "class_balanced": False},
))

# Paper 003 v3: the learned occlusion map of v2 collapsed (every region < 0.09, the alpha sweep flat).
# v3 adds our supervision: BCE between the map and the covered fraction of each region, known
# exactly for the synthetic occluders (and random-erasing boxes) applied in training.
_SUPERVISED_MAP = {"occlusion_mask_weight": 1.0}
OCC_SINGLE_CK3 = register_recipe(dataclasses.replace(
    OCC_SINGLE_CK2, version=3, description=OCC_SINGLE_CK2.description + "; occlusion map supervised with the occluder masks",
    model_kwargs={**OCC_SINGLE_CK2.model_kwargs, **_SUPERVISED_MAP},
))
register_recipe(dataclasses.replace(
    OCC_SINGLE_CK3, name="ckplus-occnet-double",
    description=RECIPES["ckplus-occnet-double-v2"].description + "; occlusion map supervised with the occluder masks",
    loss="siamese", loss_kwargs={"margin": 1.0, "contrastive_weight": 2.0}, sampler="pairs", batch_size=16,
))
register_recipe(dataclasses.replace(
    OCC_DOUBLE_FER, version=2, description=OCC_DOUBLE_FER.description + "; occlusion map supervised with the occluder masks",
    model_kwargs={**OCC_DOUBLE_FER.model_kwargs, **_SUPERVISED_MAP},
))

# Paper 002 on CK+48 (subject-independent folds): the FER2013 v2 recipe's warm start (the FER2013 CE
# network: another dataset, so no CK+ test subject is seen) and pure semi-hard triplet loss.
register_recipe(dataclasses.replace(
    EMBED_FER2, name="ckplus-embed-triplet", version=1,
    description="Paper 002 on CK+48 folds: 128-D unit-norm embeddings, semi-hard triplet mining in 7 x 8 class-balanced batches, "
                "Adam 1e-3 (backbone 0.1x, initialised from fer2013-ce-modres18-v1), 30 epochs; flips, rotation and random crop",
    sampler_kwargs={"samples_per_class": 8}, batch_size=56, epochs=30, protocol="kfold10",
))

# Paper 004 v2: v1's 4 epochs left the losses within noise of each other. v2 gives each loss 10
# epochs (same backbone, schedule and budget), and adds the SE-ResNet backbone with plain CE and
# with the weighted-cluster loss (the modified SE-ResNet-18: paper 000's Table 1 layout with SE blocks).
LOSS_BASE2 = register_recipe(dataclasses.replace(
    LOSS_BASE, version=2, description="Paper 004 comparison: cross-entropy (modified ResNet-18, 10 epochs)", epochs=10,
))
for _loss, _text in (("weighted_ce", "weighted softmax (inverse class frequency)"), ("center", "cross-entropy + center loss"),
                     ("weighted_cluster", "cross-entropy + weighted-cluster loss")):
    register_recipe(dataclasses.replace(
        LOSS_BASE2, name=f"fer2013-loss-{_loss.replace('_', '-')}", description=f"Paper 004 comparison: {_text} (modified ResNet-18, 10 epochs)", loss=_loss,
    ))
register_recipe(dataclasses.replace(
    LOSS_BASE2, name="fer2013-loss-ce-seresnet", version=1, description="Paper 004 backbone: modified SE-ResNet-18, cross-entropy, 10 epochs",
    model="modified_seresnet18",
))
register_recipe(dataclasses.replace(
    LOSS_BASE2, name="fer2013-loss-weighted-cluster-seresnet", version=1,
    description="Paper 004: modified SE-ResNet-18 + cross-entropy + weighted-cluster loss, 10 epochs", model="modified_seresnet18", loss="weighted_cluster",
))
register_recipe(dataclasses.replace(RECIPES["fer2013-stn-resnet18-tl-v1"], version=2, input_transform_lr_mult=0.1))
# Paper 003's single-channel model on FER2013 (Table 5 layout), with the supervised occlusion map of
# fer2013-occnet-double-v2: one channel, cross-entropy, same trunk, optimiser and budget.
register_recipe(dataclasses.replace(
    RECIPES["fer2013-occnet-double-v2"], name="fer2013-occnet-single", version=1,
    description="Paper 003 single channel on FER2013: occlusion-adaptive module on a modified ResNet-18 trunk, cross-entropy, "
                "SGD one-cycle, synthetic occluders on half the faces; occlusion map supervised with the occluder masks",
    loss="ce", loss_kwargs={}, sampler="shuffle", batch_size=128,
))
# v2 of the weighted-cluster comparison diverged (NaN from epoch 4): the centre-gradient preconditioning
# also scaled the push between centres, which ran away for classes absent from a batch. v3 is the same
# recipe on the fixed loss (push part with its plain gradient; see ferkit.losses.centers).
register_recipe(dataclasses.replace(
    RECIPES["fer2013-loss-weighted-cluster-v2"], version=3,
    description="Paper 004 comparison: cross-entropy + weighted-cluster loss (modified ResNet-18, 10 epochs), centre push with its plain gradient",
))
# v3 is stable but its cluster term (weight 0.5, the paper gives none for this backbone) held the
# network at the majority class for 4 epochs. v4 and v5 are the same recipe with 0.1 and 0.05; the
# weight is chosen on PublicTest (the centre loss, at 0.01, stays within a point of CE).
for _version, _weight in ((4, 0.1), (5, 0.05)):
    register_recipe(dataclasses.replace(
        RECIPES["fer2013-loss-weighted-cluster-v3"], version=_version, loss_kwargs={"cluster_weight": _weight},
        description=f"Paper 004 comparison: cross-entropy + {_weight} x weighted-cluster loss (modified ResNet-18, 10 epochs)",
    ))
# Paper 004's SE-ResNet backbone with the weighted-cluster term at the weight chosen on PublicTest above (0.05).
register_recipe(dataclasses.replace(
    RECIPES["fer2013-loss-weighted-cluster-seresnet-v1"], version=2, loss_kwargs={"cluster_weight": 0.05},
    description="Paper 004: modified SE-ResNet-18 + cross-entropy + 0.05 x weighted-cluster loss (the weight chosen with ResNet on PublicTest), 10 epochs",
))

# Default model v5 (fourth session, CPU again): v3's validation accuracy rose until its learning rate reached
# zero (62.9% at epoch 60, +1.7 points in the last 10 epochs) with the augmented training accuracy still
# below it (58.7%), so each member gets a second, shorter one-cycle (peak 0.02, 30 epochs) from its best
# checkpoint, same augmentation and seed. The continued members are chosen on PublicTest like before.
_MEMBER_SOURCES = {0: "runs/fer2013-default-modres18-occ-v3/best.pt",
                   **{s: f"runs/fer2013-default-member-seed{s}-v1/best.pt" for s in (1, 2, 3)}}
for _seed, _source in _MEMBER_SOURCES.items():
    register_recipe(dataclasses.replace(
        DEFAULT_V3, name=f"fer2013-default-continued-seed{_seed}", version=1, seed=_seed,
        description=f"Default-model member continued: {_source} (the v3 recipe, seed {_seed}) trained 30 more epochs, "
                    "SGD nesterov one-cycle peak 0.02, same augmentation and occluders",
        epochs=30, lr=0.02, init_weights=_source,
    ))
# A third cycle: the second one (above) gained 1.0-1.6 points on PublicTest with the augmented training
# accuracy still rising (62%), so the continued members get one more identical cycle.
for _seed in _MEMBER_SOURCES:
    register_recipe(dataclasses.replace(
        RECIPES[f"fer2013-default-continued-seed{_seed}-v1"], version=2,
        description=f"Default-model member, third cycle: runs/fer2013-default-continued-seed{_seed}-v1/best.pt trained 30 more epochs, "
                    "SGD nesterov one-cycle peak 0.02, same augmentation and occluders",
        init_weights=f"runs/fer2013-default-continued-seed{_seed}-v1/best.pt",
    ))
# Ablation for the occluded-accuracy goal: seed 3's third cycle again, with occluders on 70% of the faces
# instead of 40%. Same start and schedule as fer2013-default-continued-seed3-v2, so the two differ only there.
register_recipe(dataclasses.replace(
    RECIPES["fer2013-default-continued-seed3-v2"], name="fer2013-default-continued-occ70-seed3", version=1,
    description="Ablation: runs/fer2013-default-continued-seed3-v1/best.pt trained 30 more epochs, SGD nesterov one-cycle peak 0.02, "
                "synthetic occluders on 70% of faces (40% in the other members)",
    augment=dataclasses.replace(DEFAULT_V3.augment, occlusion_p=0.7),
))

# --- Issue 15: accuracy per CPU hour. Every candidate gets the v3 default recipe's loss, optimiser and
# augmentation (occluders on 40% of faces) and the same wall-clock budget on one core: its epochs are
# the budget divided by its epoch time measured by benchmarks/cpu_training_speed.py (2 runs x 1 thread,
# this session's AMD EPYC Zen 3 host). One-cycle schedules are sized to those epochs.
STUDY_BUDGET_MIN = 40
_STUDY_EPOCHS = {"modified_resnet18": 8, "fer_resnet10_s2": 4, "fer_resnet10_s1": 3}
_STUDY_CANDIDATES = {
    "modres18": ("modified_resnet18", {"dropout": 0.2}),
    "fer10s2": ("fer_resnet10_s2", {"dropout": 0.2}),
    "fer10s1w32": ("fer_resnet10_s1", {"dropout": 0.2, "width": 32}),
}
for _short, (_model, _kwargs) in _STUDY_CANDIDATES.items():
    register_recipe(dataclasses.replace(
        DEFAULT_V3, name=f"fer2013-cpu-study-{_short}", version=1, model=_model, model_kwargs=_kwargs, epochs=_STUDY_EPOCHS[_model],
        description=f"Equal-time study ({STUDY_BUDGET_MIN} min on one core): {_model} {_kwargs}, the v3 default recipe "
                    f"(CE + label smoothing 0.1, SGD nesterov one-cycle 0.1, occluders on 40% of faces), {_STUDY_EPOCHS[_model]} epochs",
    ))
# Distillation in the same budget: the shipped v5 ensemble (three modified ResNet-18s, 67.79 PublicTest)
# as the teacher, its logits cached once on the un-augmented images and their mirrors (the teacher's pass
# is counted in the budget, so fewer epochs). Put the teacher file in place with
#   git show 6b5df7d:src/ferkit/weights/ferkit-default.pt > runs/teachers/ferkit-default-v5.pt
TEACHER_V5 = "runs/teachers/ferkit-default-v5.pt"
register_recipe(dataclasses.replace(
    RECIPES["fer2013-cpu-study-modres18-v1"], name="fer2013-cpu-study-modres18-kd", version=1, epochs=7,
    loss="distill", loss_kwargs={"teacher": TEACHER_V5, "teacher_mode": "cached", "temperature": 4.0, "alpha": 0.5, "label_smoothing": 0.1},
    description=f"Equal-time study ({STUDY_BUDGET_MIN} min on one core, teacher pass included): modified ResNet-18 distilled from the "
                "v5 ensemble (cached flip-averaged logits, T=4, alpha 0.5) + CE with label smoothing 0.1, otherwise the v3 default recipe, 7 epochs",
))
# The long run that the study chooses (benchmarks/cpu_hour_study.py picks one on PublicTest): the same
# recipe with a one-cycle schedule over about 13 hours of both cores, resumable across sessions
# (benchmarks/queue_cpu_hour.sh). Epochs are sized to equal time, like the study.
_LONG_EPOCHS = {"modres18": 300, "fer10s2": 150, "fer10s1w32": 120, "modres18-kd": 280}
for _short, _epochs in _LONG_EPOCHS.items():
    register_recipe(dataclasses.replace(
        RECIPES[f"fer2013-cpu-study-{_short}-v1"], name=f"fer2013-cpu-long-{_short}", version=1, epochs=_epochs,
        description=RECIPES[f"fer2013-cpu-study-{_short}-v1"].description.split(": ", 1)[1].rsplit(", ", 1)[0]
        + f", {_epochs} epochs (about 13 hours of both cores): the long run of issue 15",
    ))
