"""Scoring and comparing: predictions, metrics, evaluation files, the comparison over folds and
the paired bootstrap, the summary, its pages and plots."""
