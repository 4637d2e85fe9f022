"""The data stage: sources (built-in datasets, folders, MVTec AD), decoding image files, the cached
dataset, the split and folds, and inspecting a folder before a run."""
