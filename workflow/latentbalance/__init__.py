"""latentbalance: oversample minority classes in the latent space of a convolutional autoencoder."""

__version__ = "0.1.0"
