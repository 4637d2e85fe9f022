"""Reading one image file in any mode into the dataset's layout."""

import numpy as np
from PIL import Image

from latentbalance.data.decode import IMAGE_SUFFIXES, find_images, read_image


def test_read_image_handles_palette_rgba_and_16_bit(tmp_path):
    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))  # 8 x 16
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert np.array_equal(read_image(tmp_path / "deep.png", None, 1)[0], grey)
    rgba = np.zeros((8, 16, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    rgba[:, :8, 3] = 0  # left half transparent: composited onto black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    pixels = read_image(tmp_path / "alpha.png", (4, 8), 3)
    assert pixels.shape == (3, 4, 8)
    assert pixels[0, :, :3].max() == 0 and pixels[0, :, 5:].min() == 200
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.bmp")
    assert read_image(tmp_path / "palette.bmp", None, 3).shape == (3, 8, 16)
    found = find_images(tmp_path)
    assert [p.name for p in found] == ["alpha.png", "deep.png", "palette.bmp"]
    assert ".bmp" in IMAGE_SUFFIXES
