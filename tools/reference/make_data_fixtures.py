#!/usr/bin/env python3
"""Small fixtures cut from the data sets, so that tests need nothing outside the repository.

Writes Tests/Fixtures/:
  data/    a miniature data root with the layout of the real one (docs/model.md, Training data):
           a few images of each set the tests read, their annotations (COCO annotations are
           CC BY 4.0; panoptic maps at half size), and for each image a flat grey stand-in of
           its size in place of the photo, since these tests read labels, not pixels
  photos/  photos for tests that need real pixels: COCO val2017 images under CC BY (Flickr
           licence id 4), resized to 320 px on their longest side; ATTRIBUTION.md credits them
  mobilenet_v2_layout.json, espnetv2_layout.json
           the tensor names and shapes of torchvision's ImageNet MobileNetV2 and of EdgeNets'
           Pascal VOC ESPNetv2 state dicts (the weights themselves stay out of the repository)

    python3 tools/reference/make_data_fixtures.py [--inputs INPUTS]
"""
import argparse
import json
import os
import shutil

import numpy as np
from PIL import Image

from segtools import codec
from segtools.train import data

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "Tests", "Fixtures")
# (set, split, image ids): val images shared by coco-mini and coco-tiny (435206) test that a
# file is listed once; a partial set tests that the fully annotated lists leave it out.
INSTANCE_SETS = [
    ("coco-mini", "val2017", [139, 435206]),
    ("coco-mini", "train2017", None),
    ("coco-tiny", "val2017", [5001, 435206]),
    ("lizhogn-tiny-coco", "val2017", [6818]),
    ("coco128", "train2017", None),
    ("atss-person-partial", "train2017", None),
]
PANOPTIC_SETS = [("cocostuff-taming-train", None), ("cocostuff-taming-val", None), ("coco-panoptic-gt-val", [39769])]
PHOTOS = [("coco-mini", 397133), ("coco-mini", 475678)]
FIRST = 2  # images per set where no ids are named
PHOTO_SIDE = 320


def stand_in(width, height, path):
    """A grey gradient JPEG of the given size."""
    ramp = np.linspace(60, 200, width, dtype=np.float32)[None, :].repeat(height, 0).astype(np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(ramp, "L").save(path, quality=30)


def chosen(images, ids):
    images = sorted(images, key=lambda i: i["id"])
    return [i for i in images if i["id"] in ids] if ids else images[:FIRST]


def instance_set(root, name, split, ids):
    with open(os.path.join(root, "coco-instances", name, "annotations", f"instances_{split}.json")) as f:
        full = json.load(f)
    images = chosen(full["images"], ids)
    keep = {i["id"] for i in images}
    subset = dict(full, images=images, annotations=[a for a in full["annotations"] if a["image_id"] in keep])
    out = os.path.join(OUT, "data", "coco-instances", name)
    os.makedirs(os.path.join(out, "annotations"), exist_ok=True)
    with open(os.path.join(out, "annotations", f"instances_{split}.json"), "w") as f:
        json.dump(subset, f)
    for info in images:
        stand_in(info["width"], info["height"], os.path.join(out, split, info["file_name"]))


def panoptic_set(root, name, ids):
    """A panoptic set's chosen images at half size: the id maps subsampled, each segment's area
    and box measured again, segments that vanish dropped."""
    source = os.path.join(root, "panoptic-train", name)
    with open(os.path.join(source, "panoptic.json")) as f:
        full = json.load(f)
    images = chosen(full["images"], ids)
    by_image = {a["image_id"]: a for a in full["annotations"]}
    out = os.path.join(OUT, "data", "panoptic-train", name)
    os.makedirs(os.path.join(out, "panoptic"), exist_ok=True)
    annotations = []
    for info in images:
        ann = by_image[info["id"]]
        small = codec.read_ids(os.path.join(source, "panoptic", ann["file_name"]))[::2, ::2]
        info.update(height=small.shape[0], width=small.shape[1])
        segments = []
        for segment in ann["segments_info"]:
            ys, xs = np.nonzero(small == segment["id"])
            if len(ys):
                box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
                segments.append(dict(segment, area=int(len(ys)), bbox=box))
        annotations.append(dict(ann, segments_info=segments))
        codec.write_ids(small, os.path.join(out, "panoptic", ann["file_name"]))
        stand_in(info["width"], info["height"], os.path.join(out, "images", info["file_name"]))
    with open(os.path.join(out, "panoptic.json"), "w") as f:
        json.dump(dict(full, images=images, annotations=annotations), f)


def photos(root):
    out = os.path.join(OUT, "photos")
    os.makedirs(out, exist_ok=True)
    lines = ["# Photos", "", "COCO 2017 val images, resized to 320 px on the longest side by",
             "`tools/reference/make_data_fixtures.py`. Each keeps its Flickr licence:", "",
             "| file | Flickr original | licence |", "| --- | --- | --- |"]
    for name, image_id in PHOTOS:
        with open(os.path.join(root, "coco-instances", name, "annotations", "instances_val2017.json")) as f:
            full = json.load(f)
        info = next(i for i in full["images"] if i["id"] == image_id)
        licence = next(lic for lic in full["licenses"] if lic["id"] == info["license"])
        assert licence["id"] == 4, f"{image_id}: {licence['name']} is not CC BY"
        image = Image.open(os.path.join(root, "coco-instances", name, "val2017", info["file_name"])).convert("RGB")
        scale = PHOTO_SIDE / max(image.size)
        image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS).save(
            os.path.join(out, info["file_name"]), quality=90)
        lines.append(f"| `{info['file_name']}` | {info['flickr_url']} | [{licence['name']}]({licence['url']}) |")
    with open(os.path.join(out, "ATTRIBUTION.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def weight_layout(path, name):
    import torch
    state = torch.load(path, map_location="cpu", weights_only=True)
    with open(os.path.join(OUT, name), "w") as f:
        json.dump({k: list(v.shape) for k, v in state.items()}, f, indent=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", default=data.DEFAULT_INPUTS, help="the folder of data/ and weights/")
    args = ap.parse_args()
    root = os.path.join(args.inputs, "data")
    shutil.rmtree(os.path.join(OUT, "data"), ignore_errors=True)
    for name, split, ids in INSTANCE_SETS:
        instance_set(root, name, split, ids)
    for name, ids in PANOPTIC_SETS:
        panoptic_set(root, name, ids)
    photos(root)
    weights = os.path.join(args.inputs, "weights")
    weight_layout(os.path.join(weights, "mobilenet_v2", "mobilenet_v2-b0353104.pth"), "mobilenet_v2_layout.json")
    weight_layout(os.path.join(weights, "espnetv2", "espnetv2_s_2.0_pascal_384x384.pth"), "espnetv2_layout.json")


if __name__ == "__main__":
    main()
