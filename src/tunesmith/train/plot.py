"""metrics.png: training and validation bits per token and accuracy over the steps of a run."""

from __future__ import annotations

from pathlib import Path


def plot_metrics(history: list[dict], path: Path) -> None:
    """Training and validation bits per token and accuracy over steps, as a PNG."""
    import matplotlib  # here, not at the top: it takes a while to import and only plotting needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(steps, [r["train_bits"] for r in history], label="training", marker=".")
    if all("train_accuracy" in r for r in history):
        ax2.plot(steps, [r["train_accuracy"] for r in history], label="training", marker=".")
    val_rows = [r for r in history if "val_bits" in r]
    if val_rows:
        ax1.plot([r["step"] for r in val_rows], [r["val_bits"] for r in val_rows], label="validation", marker=".")
        ax2.plot([r["step"] for r in val_rows], [r["val_accuracy"] for r in val_rows], label="validation", marker=".",
                 color="C1")
    ax1.set_xlabel("step")
    ax1.set_ylabel("bits per token")
    ax1.set_title("loss")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.set_xlabel("step")
    ax2.set_ylabel("next-token accuracy")
    ax2.set_title("accuracy")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
