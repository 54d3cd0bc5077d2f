"""data.py: the COCO panoptic loader, the training-set list and its val guard, copy-paste,
large-scale jitter and the known (annotated) pixels."""
import json
import os
import random

import numpy as np
import pytest
import torch
from PIL import Image

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

from segtools.train import data
from segtools import codec
from segtools.testing import DATA

THING, STUFF = 1, 2


def panoptic_set(root, images, url_split="train2017"):
    """Writes a set in COCO panoptic layout; `images` is [(image id, ids, segments_info, extra info)]."""
    for folder in ("images", "panoptic"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    infos, anns = [], []
    for image_id, ids, segments, extra in images:
        h, w = ids.shape
        name = f"{image_id:012d}"
        Image.fromarray(np.full((h, w, 3), 90, dtype=np.uint8)).save(os.path.join(root, "images", name + ".jpg"))
        codec.write_ids(ids, os.path.join(root, "panoptic", name + ".png"))
        infos.append({"id": image_id, "file_name": name + ".jpg", "width": w, "height": h,
                      "coco_url": f"http://images.cocodataset.org/{url_split}/{name}.jpg", **extra})
        anns.append({"image_id": image_id, "file_name": name + ".png", "segments_info": segments})
    categories = [{"id": THING, "name": "thing", "isthing": 1}, {"id": STUFF, "name": "stuff", "isthing": 0}]
    with open(os.path.join(root, "panoptic.json"), "w") as f:
        json.dump({"images": infos, "annotations": anns, "categories": categories}, f)


def one_image(image_id, extra=None):
    """20x30: a thing (id 70000), a stuff segment (id 5), a crowd region (id 9) and void."""
    ids = np.zeros((20, 30), dtype=np.int64)
    ids[:, :10] = 5
    ids[5:15, 12:20] = 70000
    ids[5:15, 22:28] = 9
    segments = [{"id": 5, "category_id": STUFF, "iscrowd": 0}, {"id": 70000, "category_id": THING, "iscrowd": 0},
                {"id": 9, "category_id": THING, "iscrowd": 1}]
    return image_id, ids, segments, extra or {}


def instances_set(root, split, image_ids):
    """coco-instances layout: one 20x30 image per id with two square instances."""
    os.makedirs(os.path.join(root, split), exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    images, anns = [], []
    for image_id in image_ids:
        name = f"{image_id:012d}.jpg"
        Image.fromarray(np.full((20, 30, 3), 40, dtype=np.uint8)).save(os.path.join(root, split, name))
        images.append({"id": image_id, "file_name": name, "width": 30, "height": 20})
        for k, (x, y) in enumerate([(2, 2), (15, 8)]):
            anns.append({"id": image_id * 10 + k, "image_id": image_id, "category_id": 1, "iscrowd": 0, "area": 64,
                         "segmentation": [[x, y, x + 8, y, x + 8, y + 8, x, y + 8]], "bbox": [x, y, 8, 8]})
    with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}, f)


def test_panoptic_loader_keeps_things_and_stuff_and_voids_crowd(tmp_path):
    panoptic_set(tmp_path, [one_image(8), one_image(3, {"things": "void"})])
    first, second = data.panoptic_samples(str(tmp_path))
    assert (first.image_id, second.image_id) == (3, 8)  # in image id order
    assert second.path == os.path.join(str(tmp_path), "images", "000000000008.jpg") and os.path.exists(second.path)
    assert second.ids.dtype == np.int32 and set(np.unique(second.ids)) == {0, 5, 70000}
    assert second.things == {70000}
    # Crowd is unknown; the other void is known (nothing there) in a fully annotated image...
    assert not second.known[5:15, 22:28].any() and second.known[0, 29] and second.known[:, :20].all()
    # ... and unknown where the source left the things void, or when asked.
    assert first.known is None and np.array_equal(data.known_pixels(first), first.ids != 0)
    assert all(s.known is None for s in data.panoptic_samples(str(tmp_path), void_known=False))


def fake_root(tmp_path):
    root = tmp_path / "data"
    panoptic_set(str(root / "panoptic-train" / "a-train"), [one_image(1), one_image(2)])
    panoptic_set(str(root / "panoptic-train" / "b-val"), [one_image(100)], "val2017")
    panoptic_set(str(root / "panoptic-train" / "c-stuffonly"), [one_image(101, {"things": "void"})], "val2017")
    panoptic_set(str(root / "panoptic-train" / "d-stuffonly"), [one_image(3, {"things": "void"})])
    instances_set(str(root / "coco-instances" / "x"), "train2017", [2, 4, 5])
    instances_set(str(root / "coco-instances" / "x"), "val2017", [102])
    instances_set(str(root / "coco-instances" / "y-partial"), "train2017", [6])
    return str(root)


def test_training_sets_are_train_splits_with_weights(tmp_path):
    root = fake_root(tmp_path)
    sources = data.training_sources(root)
    assert [(s.name, s.kind) for s in sources] == [
        ("panoptic-train/a-train", "panoptic"), ("coco-instances/x/train2017", "instances"),
        ("coco-instances/y-partial/train2017", "partial"), ("panoptic-train/d-stuffonly", "stuff-only")]
    sets = data.training_sets(root)
    assert [len(s.samples) for s in sets] == [2, 2, 1, 1]  # image 2 is kept by the panoptic set only
    assert abs(sum(s.weight for s in sets) - 1) < 1e-9
    assert sets[0].weight == pytest.approx(2 * 2 / (2 * 2 + 1 * 2 + 0.5 + 0.5))
    assert data.val_image_ids(root) == {100, 101, 102}
    weighted = data.training_sets(root, weights={"x": 3.0, "a-train": 1.0, "y-partial": 0, "d-stuffonly": 0})
    assert [s.weight for s in weighted] == [0.25, 0.75, 0, 0]
    samples, weights = data.mixed(weighted)
    assert len(samples) == 6 and weights[:4] == [0.125, 0.125, 0.375, 0.375]


def test_validation_data_is_never_returned_for_training(tmp_path):
    root = fake_root(tmp_path)
    val_ids = data.val_image_ids(root)
    sample = data.Sample("/x/train2017/1.jpg", np.ones((2, 2), np.int32), None, 1)
    data.assert_train_only([data.TrainingSet("coco-instances/x/train2017", "instances", [sample], 1.0)], val_ids)
    for name, s in [("panoptic-train/b-val", sample), ("coco-instances/x/val2017", sample),
                    ("coco-instances/x/train2017", sample._replace(image_id=102)),
                    ("coco-instances/x/train2017", sample._replace(path="/x/val2017/1.jpg"))]:
        with pytest.raises(AssertionError):
            data.assert_train_only([data.TrainingSet(name, "instances", [s], 1.0)], val_ids)
    # A val image that slipped into a train split stops the listing.
    instances_set(os.path.join(root, "coco-instances", "z"), "train2017", [100])
    with pytest.raises(AssertionError, match="validation images"):
        data.training_sets(root)


def test_the_data_sets_list_no_validation_set():
    """On a miniature copy of the data root: train and val sets of every kind, one val image in two sets."""
    names = [s.name for s in data.training_sources(DATA)]
    assert names == ["panoptic-train/cocostuff-taming-train", "coco-instances/coco-mini/train2017",
                     "coco-instances/coco128/train2017", "coco-instances/atss-person-partial/train2017"]
    val_ids = data.val_image_ids(DATA)
    assert val_ids == {39769, 10092, 10363, 139, 435206, 5001, 6818}
    for source in data.training_sources(DATA):
        assert not {i["id"] for i in source.image_infos()} & val_ids, source.name


def test_copy_paste_gives_new_unique_ids_and_consistent_masks():
    ids = np.zeros((16, 16), np.int32)
    ids[:8, :8], ids[8:, 8:] = 3, 7
    image, known = np.zeros((16, 16, 3), np.uint8), ids != 0
    src_ids = np.zeros((16, 16), np.int32)
    src_ids[4:12, 4:12], src_ids[:2, :] = 1, 2  # object 1 covers parts of both; 2 is stuff
    src_image = np.full((16, 16, 3), 200, np.uint8)
    out_image, out_ids, out_known = data.copy_paste(image, ids, known, src_image, src_ids, frozenset({1}),
                                                    random.Random(0), share=1.0)
    pasted = src_ids == 1
    [new] = set(np.unique(out_ids)) - {0, 3, 7}
    assert new > 7 and np.array_equal(out_ids == new, pasted)
    for v in (3, 7):  # covered objects shrink
        assert np.array_equal(out_ids == v, (ids == v) & ~pasted)
    assert (out_image[pasted] == 200).all() and (out_image[~pasted] == 0).all()
    assert np.array_equal(out_known, known | pasted)
    assert (out_ids[:2] != new).all() and np.array_equal(ids, np.where(known, ids, 0))  # stuff not pasted, input intact
    # With every segment a source (None) and several objects, the pasted ids are distinct.
    _, many, _ = data.copy_paste(image, ids, known, src_image, src_ids, None, random.Random(0), share=1.0)
    assert len(set(np.unique(many)) - {0, 3, 7}) == 2


def crops_samples(tmp_path):
    panoptic_set(str(tmp_path / "p"), [one_image(1), one_image(2)])
    instances_set(str(tmp_path / "i"), "train2017", [3])
    return data.panoptic_samples(str(tmp_path / "p")) + data.instance_samples(str(tmp_path / "i"), "train2017")


def test_crops_with_copy_paste_keep_slots_and_known_consistent(tmp_path):
    samples = crops_samples(tmp_path)
    ds = data.SegmentationCrops(samples, 32, seed=1, length=12, copy_paste=1.0, with_known=True)
    pasted_some = False
    for i in range(len(ds)):
        pixels, slots, known = ds[i]
        assert pixels.shape == (3, 32, 32) and slots.shape == known.shape == (32, 32) and known.dtype == torch.bool
        assert int(slots.max()) <= data.MAX_SLOTS and bool(known[slots != 0].all())  # labelled pixels are known
        pasted_some |= len(torch.unique(slots)) > 4
    assert pasted_some
    again = data.SegmentationCrops(samples, 32, seed=1, length=12, copy_paste=1.0, with_known=True)
    assert all(torch.equal(a, b) for a, b in zip(ds[5], again[5]))  # seeded by index
    plain = data.SegmentationCrops(samples, 32, seed=1, length=3)
    assert len(plain[0]) == 2


def test_large_scale_jitter_pads_with_unknown_void(tmp_path):
    samples = crops_samples(tmp_path)[:1]  # fully annotated: void known except crowd
    small = data.SegmentationCrops(samples, 64, length=8, jitter=(0.2, 0.4), with_known=True)
    for i in range(len(small)):
        _, slots, known = small[i]
        assert known.float().mean() < 0.4 ** 2 * 0.75  # the image covers at most 40% x 27% of the window
        assert not (slots[~known] != 0).any()
    large = data.SegmentationCrops(samples, 64, length=8, jitter=(1.5, 2.0), with_known=True)
    for i in range(len(large)):  # the image covers the window: only crowd pixels are unknown
        _, slots, known = large[i]
        assert known.float().mean() > 0.5


def test_weights_pick_which_images_are_drawn(tmp_path):
    samples = crops_samples(tmp_path)
    ds = data.SegmentationCrops(samples, 32, augment=False, length=6, weights=[0, 0, 1], with_known=True)
    for i in range(len(ds)):  # only the instances image, whose void is unknown
        _, slots, known = ds[i]
        assert torch.equal(known, slots != 0) and len(torch.unique(slots)) == 3
