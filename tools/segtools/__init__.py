"""Helpers shared by the tools: the COCO panoptic PNG codec (`codec`) and the model-directory
writer (`modeldir`). Scripts put the tools/ folder on sys.path and import `segtools.<module>`."""
