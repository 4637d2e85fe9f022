"""Reading image files in any mode into the dataset's layout: one file, and a list of files into
one array (sizes, channels, unreadable files)."""

import numpy as np
import pytest
from PIL import Image

from latentbalance.data.decode import (
    IMAGE_SUFFIXES,
    BadImageError,
    ImageReading,
    find_images,
    read_image,
    read_images,
)

from helpers import write_pictures


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


def test_an_unreadable_file_stops_the_reading_unless_skipped(tmp_path):
    write_pictures(tmp_path, 3)
    broken = tmp_path / "1.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n cut off here")
    paths = sorted(tmp_path.glob("*.png"))
    with pytest.raises(BadImageError, match="1.png: cannot be read as an image") as error:
        read_images(paths, ImageReading(channels=3))
    assert error.value.path == broken
    decoded = read_images(paths, ImageReading(size=6, channels=3, skip_bad_images=True))
    assert decoded.images.shape == (2, 3, 6, 6) and decoded.images.dtype == np.uint8
    assert decoded.kept.tolist() == [0, 2]  # positions in the list, for labels and names
    assert [e.path for e in decoded.unreadable] == [broken]
    nothing = read_images([broken], ImageReading(size=[4, 5], skip_bad_images=True))
    assert nothing.images.shape == (0, 3, 4, 5) and len(nothing.unreadable) == 1


def test_channels_unset_is_one_for_grey_images_and_three_for_colour(tmp_path):
    write_pictures(tmp_path, 2, mode="L")
    Image.new("RGB", (12, 12), (90, 90, 90)).save(tmp_path / "rgb.png")  # RGB file, grey pixels
    grey = read_images(find_images(tmp_path), ImageReading())
    assert grey.images.shape == (3, 1, 12, 12) and grey.images.flags.c_contiguous
    assert grey.images[2, 0, 0, 0] == 90
    Image.new("RGB", (12, 12), (200, 10, 10)).save(tmp_path / "red.png")
    colour = read_images(find_images(tmp_path), ImageReading())
    assert colour.images.shape == (4, 3, 12, 12)
    assert colour.images[2, :, 0, 0].tolist() == [200, 10, 10]  # 0, 1, red, rgb


def test_images_of_different_sizes_need_a_size(tmp_path):
    write_pictures(tmp_path / "small", 1, size=(8, 6))  # PIL's size is (width, height)
    write_pictures(tmp_path / "large", 1, size=(12, 12))
    paths = find_images(tmp_path)
    with pytest.raises(ValueError, match="differ in size") as error:
        read_images(paths, ImageReading(channels=1))
    assert "is 6x8" in str(error.value) and "'image_size: [height, width]'" in str(error.value)
    resized = read_images(paths, ImageReading(size=(10, 7), channels=1))
    assert resized.images.shape == (2, 1, 10, 7)
