"""Music notation in files: ABC text (`abc.py`), Humdrum **kern text (`kern.py`) and scores of any
format read through music21 as note events (`scores.py`).

This layer knows formats, not models: the codecs build on it, the corpus
reader above them.
"""
