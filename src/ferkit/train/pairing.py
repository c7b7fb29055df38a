"""Which batch sampler a loss can train with.

Some losses read a batch as more than a bag of rows: ``siamese`` pairs row i with row P + i
([references; samples]), ``triplet_abn`` reads [anchors; positives; negatives]. Given batches from
another sampler they still run, and train silently on random pairs. So each loss declares the
``batch_layout`` it reads where it registers (``register_loss``), each sampler the layout it
produces (``register_batch_builder``), and a recipe is checked before any data is loaded.

A loss that reads plain ``rows`` takes any sampler (cross-entropy on pair batches sees every image,
some twice); only the other direction is an error.
"""

from __future__ import annotations

from ferkit.errors import ConfigError

ANY_ROWS = "rows"


def check_sampler_for_loss(sampler: str, loss: str) -> None:
    """Raise ``ConfigError`` naming both when ``loss`` needs a batch layout that ``sampler`` does not produce.

    Unknown names raise the registries' own ``ConfigError`` listing the valid ones.
    """
    import ferkit.data  # noqa: F401  (registers every sampler)
    import ferkit.losses  # noqa: F401  (registers every loss)
    from ferkit.data.batching import BATCH_BUILDERS
    from ferkit.losses.registry import LOSS_REGISTRY

    needed = LOSS_REGISTRY.metadata(loss)["batch_layout"]
    produced = BATCH_BUILDERS.metadata(sampler)["batch_layout"]
    if needed == ANY_ROWS or needed == produced:
        return
    fitting = [name for name in BATCH_BUILDERS if BATCH_BUILDERS.metadata(name)["batch_layout"] == needed]
    raise ConfigError(
        f"loss {loss!r} reads batches laid out as {needed}, but sampler {sampler!r} produces {produced}; "
        f"use sampler {' or '.join(repr(name) for name in fitting) or '(none registered)'} with this loss"
    )
