// JobStore module.
