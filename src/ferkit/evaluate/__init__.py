"""Metrics, batched prediction with test-time augmentation, reports and plots."""
