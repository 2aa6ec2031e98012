# relcon in a notebook: arrays in, arrays out.
#
# Read (or run) top to bottom: `python docs/notebook.py`, or cell by cell in any editor that
# knows `# %%` cells (VS Code, PyCharm, Jupyter with jupytext). Every step works on numpy
# arrays in memory: load a model, embed windows, evaluate the model on labelled windows,
# fine-tune it, predict. The last cells write the same arrays to a task file, run the command
# line on it, and check that `relcon evaluate` gives exactly the numbers `relcon.evaluate` gave.
# tests/test_notebook.py runs this file.
# ruff: noqa: E402  (each cell imports what it uses)

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

import relcon

# The small shipped model (128-dimensional embeddings, quick on a CPU). `relcon.list_models()`
# lists the others; None or "default" is the full-size one (256 dimensions).
MODEL = "relcon-wrist-small"
# Where the command-line cells write their files (a fresh temporary folder unless set).
WORK = Path(os.environ.get("RELCON_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="relcon-notebook-"))
FOLDS = 3  # subject-wise folds of the evaluation

# %% [markdown]
# ## The model
#
# `relcon.load` reads a shipped model by name, a run folder or a model file. It returns a
# `ResNet1DEncoder` in eval mode, on the CPU.

# %%
encoder = relcon.load(MODEL)
print(f"{MODEL}: {encoder.embed_dim}-dimensional embeddings")

# %% [markdown]
# ## Data
#
# The model reads windows of 2.56 s of wrist acceleration: `X` shaped `(N, 256, 3)`, in g
# (gravity included) at 100 Hz. A labelled task adds `y` (`(N,)` class codes) and `groups`
# (`(N,)` the subject of every window: evaluation splits by subject, never within one).
# Here they are synthetic -- three "activities" (rest, a slow and a fast rhythm on the x axis)
# of six subjects; use your own arrays instead.


# %%
NOISE = 0.15  # g: enough to make the task hard


def synthetic_windows(n_subjects=6, per_subject=18, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(256) / 100  # seconds
    X, y, groups = [], [], []
    for s in range(n_subjects):
        for i in range(per_subject):
            k = i % 3  # the activity
            x = rng.normal(scale=NOISE, size=(256, 3))
            x[:, 2] += 1.0  # gravity on z
            if k:  # 2 Hz or 2.5 Hz, with an amplitude of this window's own
                x[:, 0] += rng.uniform(0.1, 0.4) * np.sin(
                    2 * np.pi * (1.5 + 0.5 * k) * t + rng.uniform(0, 6)
                )
            X.append(x)
            y.append(k)
            groups.append(f"s{s}")
    return np.asarray(X, dtype=np.float32), np.asarray(y), np.asarray(groups)


X, y, groups = synthetic_windows()
label_names = ["rest", "slow", "fast"]
print(f"X {X.shape}, {len(np.unique(groups))} subjects, classes {np.bincount(y)}")

# %% [markdown]
# ## Embed
#
# `relcon.embed(X, model)` is `relcon.load(model).embed(X)`: one row of `D` numbers per window.
# (A continuous recording `(T, 3)` at any rate: `relcon.apps.embed.embed_array(x, fs)` cuts it
# into windows and returns a DataFrame, one row per window.)

# %%
Z = relcon.embed(X, MODEL)
print(f"embeddings {Z.shape}")
assert np.array_equal(Z, encoder.embed(X))

# %% [markdown]
# ## Evaluate
#
# `relcon.evaluate(X, y, groups, model)` is `relcon evaluate` on these arrays: subject-wise
# folds, hyperparameters chosen on validation subjects carved out of each fold's training
# subjects, scores per fold. Its settings are those of the command, by the same names
# (`features`, `protocol`, `folds`, `few_shot`, `seed`, ...; `relcon.config.EvalConfig`). The
# result is what `results.json` holds.

# %%
results = relcon.evaluate(X, y, groups, MODEL, folds=FOLDS, label_names=label_names)
for row in results["rows"]:
    print(f"{results['name']:<28} {row['metric']:<18} {row['mean']:.3f} +- {row['std']:.3f}")

# The same folds with hand-crafted features instead of the model's embeddings:
baseline = relcon.evaluate(X, y, groups, features="handcrafted", folds=FOLDS)
print("handcrafted macro-F1", round(baseline["rows"][0]["mean"], 3))
# A model object works too, `relcon.evaluate(X, y, groups, encoder)`, with one difference: the
# users it was pretrained on are not known, so they are not left out (its name leaves them out).

# %% [markdown]
# ## The same numbers from the command line
#
# The arrays saved as a task file (`relcon.data.tasks.save_task`) and evaluated by
# `relcon evaluate --task task.npz --model relcon-wrist-small --folds 3 --out cli` (here
# through `relcon.cli.main`, which is the `relcon` command) give exactly the same scores.

# %%
from relcon.cli import main
from relcon.data.tasks import Task, save_task
from relcon.eval.results import read_results

task_file = WORK / "task.npz"
save_task(
    Task(X=X, y=y, groups=groups, task_type="classification", label_names=tuple(label_names)),
    task_file,
)
status = main(
    ["evaluate", "--task", str(task_file), "--model", MODEL, "--folds", str(FOLDS),
     "--out", str(WORK / "cli"), "--overwrite", "--no-progress"]
)  # fmt: skip
assert status == 0
from_cli = read_results(WORK / "cli" / "results.json")


def scores(res):
    """Every score of a results dict: per metric, the mean, std and each fold's value."""
    return [(r["metric"], r["mean"], r["std"], r["values"]) for r in res["rows"]]


assert scores(from_cli) == scores(results), (scores(from_cli), scores(results))
assert from_cli["confusion"][0]["matrix"] == results["confusion"][0]["matrix"]
print("relcon evaluate gives the same scores:", [(m, round(v, 3)) for m, v, *_ in scores(from_cli)])

# %% [markdown]
# ## Fine-tune and predict
#
# `relcon.finetune(X, y, groups, model)` trains the encoder and a head on the labels (early
# stopping on held-out subjects; the settings of `relcon finetune`: `epochs`, `lr`,
# `freeze_encoder`, ...). `relcon.predict(X, model)` gives class codes (`proba=True`: the
# probabilities). With few labels, train the head alone on the frozen encoder
# (`freeze_encoder=True`). Train on four subjects, predict the other two:

# %%
test = np.isin(groups, ["s0", "s1"])
tuned = relcon.finetune(
    X[~test],
    y[~test],
    groups[~test],
    MODEL,
    freeze_encoder=True,
    epochs=30,
    lr=1e-2,
    label_names=label_names,
    seed=0,
)
y_hat = relcon.predict(X[test], tuned)
print(
    f"fine-tuned: accuracy {np.mean(y_hat == y[test]):.2f} on {test.sum()} windows of 2 new subjects"
)
# relcon.models.hub.save_model("models/mine", tuned) saves it; relcon.load("models/mine") and
# `relcon predict models/mine recording.csv --out predictions.parquet` read it back.
