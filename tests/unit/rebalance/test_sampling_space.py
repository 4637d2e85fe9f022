"""Where oversamplers sample: ros draws positions and its copies are the real images read back
from the cache; pixel interpolation turns features back into the same images; the synthetic set
is written whole, a chunk at a time."""

import numpy as np

from latentbalance.data.image_dataset import ImageRows
from latentbalance.rebalance.methods import parse_method
from latentbalance.rebalance.sampling import balance
from latentbalance.rebalance.sampling_space import sampling_space, write_synthetic
from latentbalance.settings.recipes import Compute, SamplerRecipe


def test_ros_copies_are_the_real_images_it_draws_and_pixels_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    cache = rng.integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)
    fit = np.arange(5, 35)
    labels = np.r_[np.zeros(24, int), np.ones(6, int)]
    rows = ImageRows([(cache, fit)])
    compute = Compute.from_config({})
    recipe = SamplerRecipe.from_config({})
    features, to_images = sampling_space(parse_method("ros"), rows, None, 4, compute)
    assert features.shape == (30, 1)  # a position per image, not its pixels
    resampled = balance(features, labels, "ros", recipe, seed=3)
    path = tmp_path / "synthetic.npy"
    write_synthetic(path, resampled.features, to_images, cache.shape[1:], batch_size=4)
    written = np.load(path)
    assert len(written) == 18 and (resampled.sources >= 0).all()
    assert np.array_equal(written, cache[fit[resampled.sources]])
    pixels, back = sampling_space(parse_method("smote-pixel"), rows, None, 4, compute)
    assert pixels.shape == (30, 3 * 8 * 8)
    assert np.array_equal(back(pixels[:7]), cache[fit[:7]])
