"""The evaluator's self-check: perturbed ground truth with known scores."""
