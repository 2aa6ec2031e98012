"""``relcon report RUNS... --out DIR``: tables and figures from one or more ``results.json``.

Results files
-------------
The runs are ``results.json`` files in the one format of :mod:`relcon.eval.results` (its
docstring is the specification; :func:`load_results` reads them through it, refusing a file
with a missing or unknown ``schema_version``). The report uses their ``rows``, ``few_shot``,
``per_class_f1`` and ``confusion`` (each row keyed by the run's ``name``, ``task`` and
``protocol``), and for the subject check and the paired statistics ``task.splits``, ``folds``
and the ``<split>/predictions.npz`` files.

What is written
---------------
``report.md`` (a table per task: rows = run name and protocol, columns = metrics as
"mean ± std", the best mean of each column in **bold**: lowest for :data:`LOWER_IS_BETTER`
metrics, highest otherwise; then few-shot tables and the figures), ``report.csv`` (every
``rows`` entry), ``fewshot.csv``, ``fewshot_<task>.png`` (metric vs k, a line per run, std
error bars), ``per_class_f1_<task>.png`` and ``confusion_<task>_<name>.png`` (row-normalised),
each only when its data are present; ``paired.csv`` and ``paired_units.csv`` (see below).
Every file is written atomically. Names are made file-safe (anything but letters, digits,
``.``, ``-``, ``_`` becomes ``_``). The folder is locked while the report is written (a second
report into it at the same time is refused, :func:`relcon.io.lock_folder`). A folder that is not
empty is refused unless ``overwrite``; with it, the files of the earlier report
(:func:`is_report_file`) are deleted first, so no stale figure stays beside the new ones, and a
folder holding anything else is refused, deleting nothing (:func:`relcon.io.clear_outputs`).

Like for like
-------------
Runs of one task must have been scored on the same test subjects in the same splits (with
the same test window counts); otherwise the report refuses, naming the files and the
differing subjects (:class:`relcon.eval.paired.SubjectMismatchError`), unless ``allow_mismatch``,
in which case the tables carry a footnote saying so. Runs whose subjects are not recorded
are reported as unchecked. For each task, every run is then compared with a reference run
(``reference``; default: the first RelCon linear probe, else the first run) on the headline
metric (macro-F1, else MAE): the difference per test subject (from the saved predictions;
per fold where they are missing), its mean with a bootstrap 95% interval over subjects, and a
``win`` / ``tie`` / ``loss`` mark that says win or loss only when the interval excludes zero
(see :mod:`relcon.eval.paired`). The plain mean ± std tables stay beside the paired ones.
Few-shot runs are paired the same way at every ``k`` (each run's score per subject averaged
over its few-shot seeds first; a run with another protocol is paired with the reference
features' run of that protocol, e.g. ``nearest_centroid`` with ``nearest_centroid``), in a
table per ``k`` of the task's few-shot section; ``paired.csv`` and ``paired_units.csv`` carry a
``k`` column: the labelled windows per class, ``all`` for full labels.

No row is ever dropped. Runs in two files with the same (task, name, protocol) -- the
same model evaluated twice, or two files labelled before each shipped model kept its own name --
are kept apart: each label gains the end of its file's path (``relcon (shipped) [small]``), and
the report says so (:func:`relcon.eval.paired.distinct_labels`). A file reached twice is read
once; the same row given twice in one file is an error naming it.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from relcon.eval.paired import (
    N_RESAMPLES,
    Pairing,
    check_subjects,
    distinct_labels,
    paired_comparisons,
    paired_few_shot,
)
from relcon.eval.report_load import load_results
from relcon.eval.results import check_results
from relcon.io import (
    CLAIM_SUFFIX,
    LOCK_FILE,
    atomic_path,
    atomic_write_text,
    clear_outputs,
    lock_folder,
)

__all__ = [
    "LOWER_IS_BETTER",
    "REPORT_FILES",
    "is_report_file",
    "load_results",
    "lower_is_better",
    "make_report",
    "write_report",
]

#: metrics for which a smaller value is better (all others: larger is better)
LOWER_IS_BETTER = frozenset({"mae", "rmse", "mse", "mape", "loss", "error"})
_LOWER_SUFFIXES = ("_mae", "_rmse", "_mse", "_loss", "_error")
_METRIC_ORDER = (
    "macro_f1",
    "kappa",
    "balanced_accuracy",
    "accuracy",
    "mae",
    "rmse",
    "pearson",
    "spearman",
)
_REGRESSION_METRICS = frozenset({"mae", "rmse", "mse", "pearson", "spearman", "r2"})


def lower_is_better(metric: str) -> bool:
    """Whether a smaller ``metric`` is better (errors and losses)."""
    m = metric.lower()
    return m in LOWER_IS_BETTER or m.endswith(_LOWER_SUFFIXES)


# --------------------------------------------------------------------------------------------
# collecting
# --------------------------------------------------------------------------------------------


def _same(a: dict, b: dict) -> bool:
    """The same row of the same file (reached twice): its source and every number equal."""
    if a["source"] != b["source"]:
        return False
    if "matrix" in a:
        return a["matrix"] == b.get("matrix")
    x = [a["mean"], a["std"], *a.get("values", [])]
    y = [b["mean"], b["std"], *b.get("values", [])]
    if len(x) != len(y) or a.get("n") != b.get("n"):
        return False
    return all(u == v or (math.isnan(u) and math.isnan(v)) for u, v in zip(x, y, strict=True))


def _collect(results: Sequence[dict], part: str, key: Sequence[str]) -> list[dict]:
    """All ``part`` rows of ``results`` (labels already told apart: ``distinct_labels``); a row
    repeated by the same file reached twice is read once, any other repeat is an error."""
    out: dict[tuple, dict] = {}
    for res in results:
        for row in res.get(part) or []:
            row = {**row, "source": row.get("source", res.get("source", ""))}
            k = tuple(row.get(f) for f in key)
            if k in out:
                if not _same(out[k], row):
                    where = sorted({out[k]["source"], row["source"]})
                    raise ValueError(
                        f"{part}: {dict(zip(key, k, strict=True))} is given twice, in "
                        f"{' and '.join(where)}; give each run its own name"
                    )
                continue
            out[k] = row
    return list(out.values())


def _ordered(items: Iterable[str], order: Sequence[str] = ()) -> list[str]:
    items = list(dict.fromkeys(items))
    known = [m for m in order if m in items]
    return known + [m for m in items if m not in known]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"


def _fmt(v: float, digits: int | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    if digits is None:
        digits = 1 if abs(v) >= 100 else 2 if abs(v) >= 10 else 3
    return f"{v:.{digits}f}"


def _cell(mean: float, std: float) -> str:
    digits = 1 if abs(mean) >= 100 else 2 if abs(mean) >= 10 else 3
    if math.isnan(std):
        return _fmt(mean, digits)
    return f"{_fmt(mean, digits)} ± {_fmt(std, digits)}"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def _best(means: list[float], lower: bool) -> set[int]:
    finite = [(i, m) for i, m in enumerate(means) if m is not None and np.isfinite(m)]
    if len(finite) < 2:
        return set()
    target = min(m for _, m in finite) if lower else max(m for _, m in finite)
    return {i for i, m in finite if math.isclose(m, target, rel_tol=1e-12, abs_tol=1e-15)}


# --------------------------------------------------------------------------------------------
# markdown and csv
# --------------------------------------------------------------------------------------------


def _score_table(rows: list[dict], columns: list[str], col_key: str, label) -> list[str]:
    """Markdown table: one line per (name, protocol), one column per ``col_key`` value."""
    entries = _ordered((r["name"], r["protocol"]) for r in rows)
    lookup = {(r["name"], r["protocol"], r[col_key]): r for r in rows}
    lines = [
        "| name | protocol | n | " + " | ".join(label(c) for c in columns) + " |",
        "|---|---|---:|" + "---:|" * len(columns),
    ]
    bold: dict[str, set[int]] = {}
    for c in columns:
        metric = c if col_key == "metric" else next(r["metric"] for r in rows if r[col_key] == c)
        means = [lookup[(m, p, c)]["mean"] if (m, p, c) in lookup else None for m, p in entries]
        bold[c] = _best(means, lower_is_better(metric))
    for i, (m, p) in enumerate(entries):
        ns = sorted({r["n"] for r in rows if (r["name"], r["protocol"]) == (m, p) and r["n"]})
        cells = []
        for c in columns:
            r = lookup.get((m, p, c))
            text = "" if r is None else _cell(r["mean"], r["std"])
            cells.append(f"**{text}**" if i in bold[c] and text else text)
        n_text = "/".join(str(n) for n in ns) or "–"
        lines.append(f"| {_md(m)} | {_md(p)} | {n_text} | " + " | ".join(cells) + " |")
    return lines


def _delta(v: float, digits: int) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{0.0 if abs(v) < 0.5 * 10**-digits else v:+.{digits}f}"  # no "-0.000"


def _digits(v: float | None) -> int:
    if v is None or not math.isfinite(v):
        return 3
    return 1 if abs(v) >= 100 else 2 if abs(v) >= 10 else 3


_MARK_TEXT = {"win": "**win**", "loss": "**loss**", "tie": "tie", "ref": "reference", "n/a": "n/a"}


def _paired_table(p_rows: list[dict], digits: int) -> list[str]:
    """Markdown table of one task's paired differences against its reference."""
    ref = p_rows[0]["reference"]
    metric = p_rows[0]["metric"]
    lines = [
        f"Paired with **{_md(ref)}** on {_metric_label(metric)} (Δ = run − reference; "
        "95% bootstrap interval over the paired units; win/loss only when it excludes zero):",
        "",
        "| name | protocol | Δ of fold means | Δ per unit [95% CI] | paired on | folds better "
        "| vs reference |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in p_rows:
        head = f"| {_md(r['name'])} | {_md(r['protocol'])} |"
        if r["mark"] == "ref":
            lines.append(f"{head}  |  |  |  | reference |")
            continue
        diff = _delta(r["diff"], digits)
        if math.isfinite(r["ci_low"]):
            diff += f" [{_delta(r['ci_low'], digits)}, {_delta(r['ci_high'], digits)}]"
        lines.append(
            f"{head} {_delta(r['fold_diff'], digits)} | {diff} | {r['n_units']} {r['unit']}s | "
            f"{r['folds_better']}/{r['n_folds']} | {_MARK_TEXT[r['mark']]} |"
        )
    return lines


def _paired_summary(
    rows: list[dict], p_rows: list[dict], headline: dict[str, str], flagged: set[str]
) -> list[str]:
    """One headline score per task with its paired mark against the task's reference."""
    entries = _ordered((r["name"], r["protocol"]) for r in rows)
    means = {(r["name"], r["protocol"], r["task"]): r["mean"] for r in rows}
    marks = {(r["name"], r["protocol"], r["task"]): r for r in p_rows}
    tasks = [t for t in headline if any(r["task"] == t for r in p_rows)]
    lines = [
        "| name | protocol | "
        + " | ".join(f"{_md(t)}{' †' if t in flagged else ''}" for t in tasks)
        + " |",
        "|---|---|" + "---:|" * len(tasks),
    ]
    for m, p in entries:
        if not any((m, p, t) in means for t in tasks):
            continue
        cells = []
        for t in tasks:
            mean, pr = means.get((m, p, t)), marks.get((m, p, t))
            if mean is None:
                cells.append("")
            elif pr is None:
                cells.append(_fmt(mean))
            elif pr["mark"] == "ref":
                cells.append(f"{_fmt(mean)} (ref)")
            else:
                d = _delta(pr["diff"], _digits(mean))
                cells.append(f"{_fmt(mean)} ({d}, {_MARK_TEXT[pr['mark']]})")
        lines.append(f"| {_md(m)} | {_md(p)} | " + " | ".join(cells) + " |")
    return lines


def _few_shot_paired(p_rows: list[dict], few: list[dict]) -> list[str]:
    """A paired table per ``k`` (and per reference: each protocol is paired with the reference
    features' run of that protocol, where there is one) of one task's few-shot runs."""
    out = []
    for k in _k_sorted(r["k"] for r in p_rows):
        at_k = [r for r in p_rows if r["k"] == k]
        out += ["", f"#### Paired differences, k={k}", ""]
        for ref in _ordered(r["reference"] for r in at_k):
            rows = [r for r in at_k if r["reference"] == ref]
            rows.sort(key=lambda r: r["mark"] != "ref")  # the reference first
            if all(r["mark"] == "ref" for r in rows):
                continue
            ref_mean = next(
                (r["mean"] for r in few if r["k"] == k and r["metric"] == rows[0]["metric"]
                 and f"{r['name']} ({r['protocol']})" == ref), None,
            )  # fmt: skip
            out += [*_paired_table(rows, _digits(ref_mean)), ""]
        out += [
            f"With {k} labelled windows per class (per target bin for regression): each run's "
            "score per test subject (per split where the results hold no per-subject few-shot "
            "scores) is its mean over the few-shot seeds, whose labelled windows are the same "
            "for every run."
        ]
    return out


def _metric_label(metric: str) -> str:
    return f"{metric} {'↓' if lower_is_better(metric) else '↑'}"


def _k_label(k: int | None) -> str:
    return "all" if k is None else f"k={k}"


def _k_sorted(ks: Iterable[int | None]) -> list[int | None]:
    ks = set(ks)
    return sorted(k for k in ks if k is not None) + ([None] if None in ks else [])


def _write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            out = dict(r)
            if "values" in fields:
                out["values"] = json.dumps(r.get("values") or [])
            if "k" in fields:
                out["k"] = "all" if r.get("k") is None else r["k"]
            out["n"] = "" if r.get("n") is None else r["n"]
            w.writerow(out)


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def _legend_cols(width: float) -> int:
    """Legend columns that fit a figure ``width`` inches wide (labels up to ~30 characters)."""
    return max(1, int(width // 2.9))


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _legend_labels(rows: list[dict]) -> dict[tuple[str, str], str]:
    """Legend label per (name, protocol): the protocol is added only where it tells apart."""
    pairs = _ordered((r["name"], r["protocol"]) for r in rows)
    protocols = {p for _, p in pairs}
    return {(m, p): f"{m} ({p})" if len(protocols) > 1 else m for m, p in pairs}


def _plot_fewshot(rows: list[dict], task: str, path: Path) -> None:
    metrics = _ordered((r["metric"] for r in rows), _METRIC_ORDER)
    ks = _k_sorted(r["k"] for r in rows)
    xpos = {k: i for i, k in enumerate(ks)}
    labels = _legend_labels(rows)
    regression = set(metrics) <= _REGRESSION_METRICS
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    width = max(6.0, 4.2 * ncols + 0.4)
    fig = _figure(width, 3.3 * nrows + 0.4 + 0.3 * -(-len(labels) // _legend_cols(width)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    jitter = 0.12 / max(1, len(labels) - 1) if len(labels) > 1 else 0.0
    for ax, metric in zip(axes, metrics, strict=False):
        for j, (key, label) in enumerate(labels.items()):
            pts = sorted(
                (
                    (xpos[r["k"]], r["mean"], r["std"])
                    for r in rows
                    if (r["name"], r["protocol"]) == key and r["metric"] == metric
                ),
            )
            if not pts:
                continue
            x, y, e = (np.asarray(v, dtype=float) for v in zip(*pts, strict=True))
            x = x + (j - (len(labels) - 1) / 2) * jitter
            ax.errorbar(
                x, y, yerr=np.nan_to_num(e), marker="o", ms=4, capsize=3, lw=1.5,
                label=label, color=f"C{j % 10}",
            )  # fmt: skip
        ax.set_xticks(range(len(ks)), [("all" if k is None else str(k)) for k in ks])
        ax.set_xlabel("labelled windows per " + ("target bin" if regression else "class") + " (k)")
        ax.set_ylabel(_metric_label(metric))
        ax.grid(alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=_legend_cols(width), fontsize=9)
    fig.suptitle(f"Few-shot, {task}: mean ± std over folds", fontsize=11)
    _save(fig, path)


def _plot_per_class(rows: list[dict], task: str, path: Path) -> None:
    classes = _ordered(r["label"] for r in rows)
    labels = _legend_labels(rows)
    lookup = {(r["name"], r["protocol"], r["label"]): r for r in rows}
    n_m = len(labels)
    height = 0.8 / n_m
    width = 7.5
    legend_rows = -(-n_m // _legend_cols(width))
    fig_h = 0.16 * len(classes) * n_m + 0.25 * len(classes) + 1.0 + 0.3 * legend_rows
    fig = _figure(width, max(2.8, fig_h))
    ax = fig.subplots()
    y0 = np.arange(len(classes))
    for j, (key, label) in enumerate(labels.items()):
        means = [lookup[(*key, c)]["mean"] if (*key, c) in lookup else np.nan for c in classes]
        stds = [lookup[(*key, c)]["std"] if (*key, c) in lookup else np.nan for c in classes]
        pos = y0 + (j - (n_m - 1) / 2) * height
        ax.barh(
            pos, means, height * 0.9, xerr=np.nan_to_num(stds), capsize=2, label=label,
            color=f"C{j % 10}", error_kw={"lw": 0.8},
        )  # fmt: skip
    ax.set_yticks(y0, classes)
    ax.invert_yaxis()  # first class on top
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("F1 on held-out subjects (mean ± std over folds)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Per-class F1, {task}", fontsize=11)
    fig.legend(loc="outside lower center", ncols=_legend_cols(width), fontsize=9)
    _save(fig, path)


def _plot_confusion(entry: dict, path: Path) -> None:
    labels = entry["labels"]
    counts = np.asarray(entry["matrix"], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(labels)
    size = min(12.0, max(4.2, 0.55 * n + 2.2))
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    im = ax.imshow(100 * frac, cmap="Blues", vmin=0, vmax=100)
    fontsize = 9 if n <= 8 else 7 if n <= 14 else 6
    tick_size = 9 if n <= 14 else 8
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if counts[i, j] == 0:
                    continue
                pct = 100 * frac[i, j]
                ax.text(
                    j, i, "<1" if pct < 0.5 else f"{pct:.0f}", ha="center", va="center",
                    fontsize=fontsize, color="white" if frac[i, j] > 0.55 else "black",
                )  # fmt: skip
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=tick_size)
    row_names = [f"{c} (n={int(t)})" for c, t in zip(labels, totals[:, 0], strict=True)]
    ax.set_yticks(range(n), row_names, fontsize=tick_size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, shrink=0.8, label="% of the true class")
    ax.set_title(
        f"{entry['name']} ({entry['protocol']}), {entry['task']}\nrow-normalised, % of true class",
        fontsize=10,
    )
    _save(fig, path)


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


#: The files of a report with fixed names; its figures are :data:`_REPORT_FIGURE` PNGs.
REPORT_FILES = frozenset({"report.md", "report.csv", "fewshot.csv", "paired.csv",
                          "paired_units.csv"})  # fmt: skip
_REPORT_FIGURE = re.compile(r"^(fewshot|per_class_f1|confusion)_[A-Za-z0-9._-]+\.png$")


def is_report_file(name: str) -> bool:
    """Whether a file name in a report folder is one :func:`write_report` writes."""
    return name in REPORT_FILES or bool(_REPORT_FIGURE.match(name))


def _clear_folder(out_dir: Path, overwrite: bool) -> None:
    """Refuse a folder that is not empty unless ``overwrite``; then delete the earlier report."""
    entries = sorted(e.name for e in out_dir.iterdir()
                     if e.name != LOCK_FILE and not e.name.endswith(CLAIM_SUFFIX))  # fmt: skip
    if not entries:
        return
    if not overwrite:
        shown = ", ".join(entries[:5]) + (
            f" and {len(entries) - 5} more" if len(entries) > 5 else ""
        )
        raise FileExistsError(
            f"{out_dir} is not empty ({shown}); pass --overwrite to replace the report there, "
            "or choose another output folder"
        )
    clear_outputs(out_dir, is_report_file, what="a report")


def write_report(
    results: Sequence[dict],
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    allow_mismatch: bool = False,
    reference: str | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> dict[str, Path]:
    """Write the report of ``results`` (from :func:`load_results`) into ``out_dir``.

    Parameters
    ----------
    results : sequence of dict
        Loaded results (see the module docstring for the schema).
    out_dir : str or Path
        Folder for the report (created if needed; locked while the report is written).
    overwrite : bool
        Replace an earlier report in ``out_dir``: its files (:func:`is_report_file`) are deleted
        first. Without it a folder that is not empty is refused; with it, a folder holding
        anything else (results, notes) is refused too, and nothing is deleted.
    allow_mismatch : bool
        Report runs of a task that were scored on different test subjects anyway (the tables
        then carry a footnote); by default that is an error.
    reference : str, optional
        Method label (or ``label:protocol``) every run is paired with; default per task: the
        first RelCon linear probe, else the task's first run.
    n_resamples, seed : int
        Bootstrap resamples and their seed for the paired intervals.

    Returns
    -------
    dict of str to Path
        File name -> path of every file written (``report.md``, ``report.csv``, and the
        few-shot, paired, per-class and confusion files where the results have such data).

    Raises
    ------
    ValueError
        No rows at all, or one score given twice with different numbers.
    relcon.eval.paired.SubjectMismatchError
        Runs of one task were scored on different test subjects and ``allow_mismatch`` is off.
    FileExistsError
        ``out_dir`` is not empty and ``overwrite`` is off, or it holds files that are no report's.
    relcon.io.OutputInUse
        Another process is writing a report into ``out_dir``.
    """
    out_dir = Path(out_dir).expanduser()
    lock = lock_folder(out_dir)  # claimed before any work
    try:
        _clear_folder(out_dir, overwrite)
        return _write_report(results, out_dir, allow_mismatch, reference, n_resamples, seed)
    finally:
        lock.release()


def _write_report(
    results: Sequence[dict], out_dir: Path, allow_mismatch: bool, reference: str | None,
    n_resamples: int, seed: int,
) -> dict[str, Path]:  # fmt: skip
    results = [r if "source" in r else check_results(r, f"<results {i}>")
               for i, r in enumerate(results)]  # fmt: skip
    results, label_notes = distinct_labels(results)  # no row dropped: same labels kept apart
    cache: dict = {}  # predictions.npz files, read once
    check = check_subjects(results, allow_mismatch=allow_mismatch, cache=cache)
    rows = _collect(results, "rows", ("name", "task", "protocol", "metric"))
    few = _collect(results, "few_shot", ("name", "task", "protocol", "k", "metric"))
    pcf = _collect(results, "per_class_f1", ("name", "task", "protocol", "label"))
    conf = _collect(results, "confusion", ("name", "task", "protocol"))
    if not rows and not few:
        raise ValueError("nothing to report: the results hold no rows")
    written: dict[str, Path] = {}
    fields = ["name", "task", "protocol", "metric", "mean", "std", "n", "values", "source"]
    _write_csv(out_dir / "report.csv", rows, fields)
    written["report.csv"] = out_dir / "report.csv"
    if few:
        fields = ["name", "task", "protocol", "k", "metric", "mean", "std", "n", "source"]
        _write_csv(out_dir / "fewshot.csv", few, fields)
        written["fewshot.csv"] = out_dir / "fewshot.csv"

    used: set[str] = set()

    def name(*parts: str) -> str:
        base = "_".join(_slug(p) for p in parts)
        stem, i = base, 2
        while stem in used:
            stem, i = f"{base}_{i}", i + 1
        used.add(stem)
        return stem + ".png"

    sources = [str(r.get("source", "")) for r in results]
    lower = sorted({r["metric"] for r in rows + few if lower_is_better(r["metric"])})
    md = [
        "# RelCon evaluation report",
        "",
        f"From {len(sources)} result file(s): " + ", ".join(f"`{s}`" for s in sources) + ".",
        "",
        "Scores are mean ± std over subject-wise folds (`n` folds), on subjects the probe never "
        "saw. The best mean of each column is in **bold**: lowest for "
        + (", ".join(lower) if lower else "error metrics (mae, rmse)")
        + " (↓), highest for the others (↑).",
    ]
    if any(check.splits.values()):
        md += ["", "Runs of the same task were checked to share their test subjects in every "
               "split (`task.splits` of each results.json)."]  # fmt: skip
    if check.unchecked:
        md += ["", "Test subjects not recorded (not checked against the others, no paired "
               "statistics): " + ", ".join(f"`{s}`" for s in check.unchecked) + "."]  # fmt: skip
    flagged = set(check.mismatches)
    if flagged:
        md += ["", "† **Not like for like** (reported with `--allow-mismatch`): the runs of "
               + ", ".join(_md(t) for t in flagged) + " were not scored on the same test "
               "subjects; see the task sections. Paired statistics use the subjects they share."]  # fmt: skip
    tasks = _ordered(r["task"] for r in rows + few + pcf + conf)
    headline = {}  # one metric per task for the summary: macro-F1, else MAE, else the first
    for task in tasks:
        have = [r["metric"] for r in rows if r["task"] == task]
        if have:
            headline[task] = next((m for m in ("macro_f1", "mae") if m in have), have[0])
    pairing = Pairing(lower_is_better, reference, n_resamples, seed, allow_mismatch, cache)
    paired, units, paired_notes = paired_comparisons(results, headline, pairing)
    few_headline = {**{r["task"]: r["metric"] for r in few}, **headline}
    few_paired, few_units, few_notes = paired_few_shot(
        results, {t: m for t, m in few_headline.items() if any(r["task"] == t for r in few)},
        pairing,
    )  # fmt: skip
    paired_notes += few_notes
    if paired or few_paired:  # k: "all" for full labels, else labelled windows per class
        fields = ["task", "metric", "name", "protocol", "k", "reference", "mark", "diff",
                  "ci_low", "ci_high", "unit", "n_units", "fold_diff", "folds_better", "n_folds",
                  "source"]  # fmt: skip
        _write_csv(out_dir / "paired.csv", paired + few_paired, fields)
        written["paired.csv"] = out_dir / "paired.csv"
        fields = ["task", "metric", "name", "protocol", "k", "reference", "unit", "id", "score",
                  "reference_score", "diff"]  # fmt: skip
        _write_csv(out_dir / "paired_units.csv", units + few_units, fields)
        written["paired_units.csv"] = out_dir / "paired_units.csv"
    if len(headline) > 1:
        summary = [r for r in rows if headline.get(r["task"]) == r["metric"]]
        md += ["", "## Summary", ""]
        md += _score_table(summary, list(headline), "task", _md)
        md += ["", "One score per task: " + ", ".join(
            f"{_md(t)}: {_metric_label(m)}" for t, m in headline.items()) + "."]  # fmt: skip
    if paired:
        summary = [r for r in rows if headline.get(r["task"]) == r["metric"]]
        refs = _ordered(f"{_md(r['task'])}: {_md(r['reference'])}" for r in paired)
        md += ["", "## Paired summary", ""]
        md += _paired_summary(summary, paired, headline, flagged)
        md += ["", "Headline score per task, with its mean difference from the task's reference "
               "(" + "; ".join(refs) + ") per test subject (per fold where the predictions are "
               "missing): **win** / **loss** when the 95% "
               "bootstrap interval of the difference excludes zero, tie otherwise. Intervals "
               "in the task sections and `paired.csv`."]  # fmt: skip
    if label_notes + paired_notes:
        md += ["", *[f"Note: {_md(n)}" for n in label_notes + paired_notes]]
    for task in tasks:
        md += ["", f"## {_md(task)}", ""]
        t_rows = [r for r in rows if r["task"] == task]
        if t_rows:
            metrics = _ordered((r["metric"] for r in t_rows), _METRIC_ORDER)
            md += _score_table(t_rows, metrics, "metric", _metric_label)
        if task in flagged:
            md += ["", "† Not like for like (`--allow-mismatch`): these runs were not scored on "
                   "the same test subjects:", ""]  # fmt: skip
            md += [f"    {line}" for line in check.mismatches[task]]
        t_paired = [r for r in paired if r["task"] == task]
        if t_paired:
            ref_mean = next(
                (r["mean"] for r in t_rows if r["metric"] == t_paired[0]["metric"]
                 and f"{r['name']} ({r['protocol']})" == t_paired[0]["reference"]), None,
            )  # fmt: skip
            md += ["", "### Paired differences", ""]
            md += _paired_table(t_paired, _digits(ref_mean))
        t_few = [r for r in few if r["task"] == task]
        if t_few:
            fname = name("fewshot", task)
            _plot_fewshot(t_few, task, out_dir / fname)
            written[fname] = out_dir / fname
            md += ["", "### Few-shot", ""]
            for metric in _ordered((r["metric"] for r in t_few), _METRIC_ORDER):
                m_rows = [r for r in t_few if r["metric"] == metric]
                per = "target bin" if metric in _REGRESSION_METRICS else "class"
                md += [f"{_metric_label(metric)} by labelled windows per {per} (k):", ""]
                md += _score_table(m_rows, _k_sorted(r["k"] for r in m_rows), "k", _k_label)
                md += [""]
            md += [f"![few-shot {_md(task)}]({fname})"]
            md += _few_shot_paired([r for r in few_paired if r["task"] == task], t_few)
        t_pcf = [r for r in pcf if r["task"] == task]
        if t_pcf:
            fname = name("per_class_f1", task)
            _plot_per_class(t_pcf, task, out_dir / fname)
            written[fname] = out_dir / fname
            md += ["", "### Per-class F1", "", f"![per-class F1 {_md(task)}]({fname})"]
        t_conf = [c for c in conf if c["task"] == task]
        if t_conf:
            md += ["", "### Confusion matrices", ""]
            n_per_name: dict[str, int] = {}
            for c in t_conf:
                n_per_name[c["name"]] = n_per_name.get(c["name"], 0) + 1
            for c in t_conf:
                parts = [c["name"]] + ([c["protocol"]] if n_per_name[c["name"]] > 1 else [])
                fname = name("confusion", task, *parts)
                _plot_confusion(c, out_dir / fname)
                written[fname] = out_dir / fname
                md += [f"![confusion {_md(c['name'])} ({_md(c['protocol'])})]({fname})"]
    atomic_write_text(out_dir / "report.md", "\n".join(md) + "\n")
    written["report.md"] = out_dir / "report.md"
    return written


def make_report(paths: Iterable[str | Path], out_dir: str | Path, **kwargs) -> dict[str, Path]:
    """``relcon report``: :func:`load_results` then :func:`write_report` (``kwargs``); the files."""
    return write_report(load_results(paths), out_dir, **kwargs)
