"""Use cases: typed input in, typed results out. No reply text here; views render results."""
