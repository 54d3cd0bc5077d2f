#!/usr/bin/env python3
"""Small JPEGs of the kinds cameras and editors write, for the Swift decoder tests.

Writes Tests/ImagingTests/Fixtures/:
  source.png        the 64x48 RGB picture every JPEG below encodes
  baseline.jpg      sequential YCbCr
  progressive.jpg   progressive YCbCr
  cmyk.jpg          CMYK with an Adobe marker (inverted inks, as Photoshop writes them)
  gray.jpg          one channel
  orientation<n>.jpg  baseline with EXIF Orientation n (1-8)
  <name>.pillow.png each JPEG as Pillow decodes it, the reference for ours

Truncated, 12-bit, doubled-SOI and other hostile variants are cut from these by the tests.

    python3 tools/reference/make_image_fixtures.py
"""
import os

import numpy as np
from PIL import Image, ImageOps

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "Tests", "ImagingTests", "Fixtures")


def picture():
    """Smooth gradients and two flat blocks: easy to compress, easy to compare."""
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 4, y * 5, np.full_like(x, 60)], axis=-1)
    rgb[10:30, 8:28] = (220, 40, 40)
    rgb[20:44, 36:60] = (30, 200, 90)
    return Image.fromarray(rgb.astype(np.uint8))


def main(out=OUT):
    os.makedirs(out, exist_ok=True)
    image = picture()
    image.save(os.path.join(out, "source.png"))
    image.save(os.path.join(out, "baseline.jpg"), quality=95)
    image.save(os.path.join(out, "progressive.jpg"), quality=95, progressive=True)
    image.convert("CMYK").save(os.path.join(out, "cmyk.jpg"), quality=95)
    image.convert("L").save(os.path.join(out, "gray.jpg"), quality=95)
    for name in ("baseline", "progressive", "cmyk", "gray"):
        Image.open(os.path.join(out, f"{name}.jpg")).convert("RGB").save(os.path.join(out, f"{name}.pillow.png"))
    # Stored sideways as phones store portrait photos, with each EXIF orientation: the
    # reference is what a browser shows (Pillow's exif_transpose).
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        name = f"orientation{orientation}"
        image.save(os.path.join(out, f"{name}.jpg"), quality=95, exif=exif)
        shown = ImageOps.exif_transpose(Image.open(os.path.join(out, f"{name}.jpg"))).convert("RGB")
        shown.save(os.path.join(out, f"{name}.pillow.png"))
    return sorted(os.listdir(out))


if __name__ == "__main__":
    for name in main():
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")
