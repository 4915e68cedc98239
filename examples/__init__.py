"""Examples of jaxloss in training loops (not part of the installed package)."""
