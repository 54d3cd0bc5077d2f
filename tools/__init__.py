"""segserve's Python tools as one package, `segtools` (`pip install -e tools`): the PyTorch
reference (`reference`), training and evaluation (`train`), benchmarks (`bench`), the
evaluator's self-check (`evalcheck`), load tests (`load`), the checkpoint converter and HED
export, and helpers shared by all: the panoptic PNG codec (`codec`), the model-directory writer
(`modeldir`) and the test harness (`testing`)."""
