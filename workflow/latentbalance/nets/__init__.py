"""The networks: autoencoders, ResNet classifiers, the small-image layers they share, and model
files (save, load, check against a dataset)."""
