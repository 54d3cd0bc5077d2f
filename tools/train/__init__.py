"""Training, evaluation, the edge prior and the PyTorch-Swift parity check."""
