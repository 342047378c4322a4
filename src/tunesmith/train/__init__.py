"""Training runs: settings, the run folder, the loop, plots.

A run folder holds:

    .lock               held by the run training in it (its PID inside)
    run.json            the settings, the corpus and the train/validation split
    skipped.tsv         every file or piece of the corpus that was skipped, and why
    metrics.jsonl       one line per validation (and per logging interval), up to the last checkpoint
                        after a resume
    metrics.png         training and validation bits per token and accuracy
    checkpoints/step-N/ a model bundle per checkpoint (card: step, epoch, val loss)
    best/               the bundle with the lowest validation loss
    last/               the newest checkpoint plus the trainer state to resume from
    distributed.json    with several processes: how many, and that their weights agreed

The pieces:

    config.py     TrainConfig, what run.json records (codec options, model shape, training options)
    start.py      train(cfg, resume, overwrite): lock and claim the folder, prepare, train
    claim.py      the run folder's lock (RUN/.lock) and what a start finds there: a new run, a
                  resumed one, or one started again (no checkpoint yet, or --overwrite)
    runfolder.py  preparing a run (corpus, split, codec, run.json, skipped.tsv, encoding, the
                  copy-guard index), the trainer state in last/, metrics.jsonl
    trainer.py    the Trainer: restore, step, validate, checkpoint, previews; a loss or weights
                  that are no longer finite end the run (its last checkpoint kept)
    optim.py      Adam and the learning-rate schedule
    console.py    the progress bar's summary and the previews after each epoch
    plot.py       metrics.png
"""

from tunesmith.train.config import TrainConfig, TrainingOptions, recipe_of
from tunesmith.train.console import preview
from tunesmith.train.plot import plot_metrics
from tunesmith.train.runfolder import Prepared, corpus_index, prepare, read_metrics
from tunesmith.train.start import train
from tunesmith.train.trainer import RunResult, Trainer

_prepare = prepare   # the name benchmarks and tests know

__all__ = ["Prepared", "RunResult", "TrainConfig", "Trainer", "TrainingOptions", "corpus_index", "plot_metrics",
           "prepare", "preview", "read_metrics", "recipe_of", "train"]
