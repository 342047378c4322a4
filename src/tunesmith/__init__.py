"""tunesmith: learn a musical style from symbolic music with LSTMs and compose in it."""

__version__ = "0.1.0"


class TunesmithError(Exception):
    """A predictable mistake (bad input, bad flag, broken file) told to a person in one sentence."""
