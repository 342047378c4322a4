"""Judging composed pieces: validity, novelty against the training data, likeness to the corpus, reports."""
