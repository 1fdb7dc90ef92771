"""Root cause: the change in goodput between two windows, split into factors, loss reasons, families and slices."""
