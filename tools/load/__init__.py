"""Load tests: many pollers, scaling over nodes."""
