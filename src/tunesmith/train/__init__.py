"""Training runs: settings, the run folder, the loop, plots.

A run folder holds:

    run.json            the settings, the corpus and the train/validation split
    metrics.jsonl       one line per validation (and per logging interval)
    metrics.png         training and validation bits per token and accuracy
    checkpoints/step-N/ a model bundle per checkpoint (card: step, epoch, val loss)
    best/               the bundle with the lowest validation loss
    last/               the newest checkpoint plus the trainer state to resume from
    distributed.json    with several processes: how many, and that their weights agreed

The pieces:

    config.py     TrainConfig, what run.json records (codec options, model shape, training options)
    runfolder.py  preparing a run (corpus, split, codec, run.json, encoding, the copy-guard index),
                  the trainer state in last/, metrics.jsonl
    trainer.py    train(cfg, resume) and the Trainer: restore, step, validate, checkpoint, previews
    optim.py      Adam and the learning-rate schedule
    console.py    the progress bar's summary and the previews after each epoch
    plot.py       metrics.png
"""

from tunesmith.train.config import TrainConfig, TrainingOptions, recipe_of
from tunesmith.train.console import preview
from tunesmith.train.plot import plot_metrics
from tunesmith.train.runfolder import Prepared, corpus_index, prepare, read_metrics
from tunesmith.train.trainer import RunResult, Trainer, train

_prepare = prepare   # the name benchmarks and tests know

__all__ = ["Prepared", "RunResult", "TrainConfig", "Trainer", "TrainingOptions", "corpus_index", "plot_metrics",
           "prepare", "preview", "read_metrics", "recipe_of", "train"]
