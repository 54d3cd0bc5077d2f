"""The PyTorch reference of the model and its parts, and the fixture generators."""
