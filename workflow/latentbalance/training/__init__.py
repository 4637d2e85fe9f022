"""Fitting networks: the epoch loop, augmentation, checkpoints, and the runtime (seed, device,
precision, the environment a result was made in)."""
