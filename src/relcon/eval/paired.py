"""Like-for-like comparisons for ``relcon report``: matched test subjects and paired statistics.

Two runs can only be compared on the same people. :func:`check_subjects` reads each
``results.json``'s per-split test subjects and window counts (``task.splits``, written by
``relcon evaluate``) and refuses,
with a :class:`SubjectMismatchError` naming the files and the differing subjects, to put runs
of one task side by side unless they were scored on the same test subjects in the same folds.

:func:`paired_comparisons` then scores every run against a reference run on the same
units: the headline metric per test subject (computed from the saved predictions; a subject's
scores over repeated fold seeds are averaged), or per fold where predictions are missing. The
mean difference gets a percentile bootstrap 95% interval over those units (seeded, 10,000
resamples by default), and a mark: ``win`` or ``loss`` only when the interval excludes zero
(in the direction that is better for the metric: lower for MAE/RMSE), else ``tie``.

:func:`paired_few_shot` does the same for the few-shot runs (``few_shot_runs``: ``k``
labelled windows per class, several seeds), at every ``k``: each run's score per test subject
is averaged over its seeds first, then paired with the reference's on the same subjects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "BootstrapCI",
    "Pairing",
    "SubjectMismatchError",
    "bootstrap_ci",
    "check_subjects",
    "distinct_labels",
    "few_shot_scores",
    "fold_scores",
    "paired_comparisons",
    "paired_few_shot",
    "paired_mark",
    "result_splits",
    "subject_scores",
]

N_RESAMPLES = 10_000
LEVEL = 0.95


class SubjectMismatchError(ValueError):
    """Runs of one task were scored on different test subjects (or folds, or windows)."""


# --------------------------------------------------------------------------------------------
# the statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapCI:
    """Mean of paired differences with a percentile bootstrap interval over the units."""

    mean: float
    low: float
    high: float
    n: int  # units (subjects or folds) resampled
    level: float = LEVEL


def bootstrap_ci(
    diffs: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile bootstrap interval of the mean of ``diffs`` (one paired difference per unit).

    ``n_resamples`` means of ``len(diffs)`` units drawn with replacement (``seed`` fixes the
    draws); the interval is their ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles.
    """
    d = np.asarray(diffs, dtype=np.float64).ravel()
    if d.size == 0 or not np.isfinite(d).all():
        raise ValueError("bootstrap_ci: need at least one finite difference")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // d.size)  # bounded memory for many units
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        means[start:stop] = d[rng.integers(0, d.size, (stop - start, d.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return BootstrapCI(float(d.mean()), float(low), float(high), int(d.size), level)


def paired_mark(ci: BootstrapCI | None, lower_is_better: bool) -> str:
    """``win`` / ``loss`` when the interval excludes zero (better / worse), else ``tie``.

    ``ci`` is of (run - reference); for lower-is-better metrics a negative difference wins.
    ``n/a`` when there is no interval (fewer than two units).
    """
    if ci is None or ci.n < 2:
        return "n/a"
    if ci.low > 0:
        return "loss" if lower_is_better else "win"
    if ci.high < 0:
        return "win" if lower_is_better else "loss"
    return "tie"


# --------------------------------------------------------------------------------------------
# reading what each run was scored on
# --------------------------------------------------------------------------------------------


def _base(result: dict) -> Path:
    return Path(str(result.get("source", ""))).parent


def _task_name(result: dict) -> str | None:
    task = result.get("task")
    return str(task["name"]) if isinstance(task, dict) and "name" in task else None


def _predictions_path(result: dict, split: dict) -> Path:
    if split.get("predictions"):
        return _base(result) / split["predictions"]
    source = Path(str(result.get("source", "")))
    folder = source.parent if source.name == "results.json" else source.with_suffix("")
    return folder / str(split["name"]) / "predictions.npz"


def _load_predictions(path: Path, cache: dict | None) -> dict | None:
    key = str(path)
    if cache is not None and key in cache:
        return cache[key]
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in ("y_true", "y_pred", "groups") if k in z.files}
    except (OSError, ValueError):
        data = None
    if data is not None and "groups" in data:
        data["groups"] = data["groups"].astype(str)
    if cache is not None:
        cache[key] = data
    return data


def result_splits(result: dict) -> list[dict] | None:
    """Per split ``{name, test_subjects (sorted str), n_test}`` of a loaded ``results.json``.

    Read from ``task.splits`` (checked by :func:`relcon.eval.results.read_results`); ``None``
    when the file lists no splits.
    """
    task = result.get("task")
    if not isinstance(task, dict) or not task.get("splits"):
        return None
    return [
        {
            "name": str(split["name"]),
            "test_subjects": sorted(str(s) for s in split["test_subjects"]),
            "n_test": int(split["n_test"]),
        }
        for split in task["splits"]
    ]


def _listing(items: Sequence[str], n: int = 12) -> str:
    items = list(items)
    more = f" ... (+{len(items) - n} more)" if len(items) > n else ""
    return "[" + ", ".join(items[:n]) + more + "]"


def _split_differences(a: list[dict], b: list[dict]) -> list[str]:
    """What differs between two runs' splits (empty when they match)."""
    out = []
    sa, sb = {s["name"]: s for s in a}, {s["name"]: s for s in b}
    if list(sa) != list(sb):
        only_a, only_b = [n for n in sa if n not in sb], [n for n in sb if n not in sa]
        if only_a or only_b:
            out.append(f"splits differ: only in the first {only_a}, only in the second {only_b}")
    for name in (n for n in sa if n in sb):
        ta, tb = set(sa[name]["test_subjects"]), set(sb[name]["test_subjects"])
        if ta != tb:
            out.append(
                f"{name}: test subjects only in the first {_listing(sorted(ta - tb))}, "
                f"only in the second {_listing(sorted(tb - ta))}"
            )
        elif None not in (sa[name]["n_test"], sb[name]["n_test"]) and (
            sa[name]["n_test"] != sb[name]["n_test"]
        ):
            out.append(
                f"{name}: same test subjects but {sa[name]['n_test']} vs "
                f"{sb[name]['n_test']} test windows"
            )
    return out


@dataclass
class SubjectCheck:
    """Outcome of :func:`check_subjects`."""

    mismatches: dict[str, list[str]]  # task -> lines describing what differs (allowed ones)
    unchecked: list[str]  # sources whose test subjects are not recorded
    splits: dict[str, list[dict] | None]  # source -> its splits (None: unknown)


def check_subjects(
    results: Sequence[dict], *, allow_mismatch: bool = False, cache: dict | None = None
) -> SubjectCheck:
    """Check that every run of a task was scored on the same test subjects per split.

    Runs are grouped by task name; each is compared with the first one of its task that records
    its splits (split names, each split's test subjects and test window count). Raises
    :class:`SubjectMismatchError` naming the files and the differing subjects, unless
    ``allow_mismatch``, in which case the differences are returned for a footnote. Runs without
    recorded subjects (results not written by ``relcon evaluate``) are listed as unchecked.
    """
    by_task: dict[str, list[tuple[str, list[dict]]]] = {}
    unchecked, splits = [], {}
    for res in results:
        source = str(res.get("source", ""))
        task = _task_name(res)
        sp = result_splits(res) if task is not None else None
        splits[source] = sp
        if sp is None:
            unchecked.append(source)
            continue
        by_task.setdefault(task, []).append((source, sp))
    mismatches: dict[str, list[str]] = {}
    for task, runs in by_task.items():
        first_source, first = runs[0]
        lines = []
        for source, sp in runs[1:]:
            diff = _split_differences(first, sp)
            if diff:
                lines.append(f"{first_source} vs {source}:")
                lines += [f"    {d}" for d in diff]
        if lines:
            mismatches[task] = lines
    if mismatches and not allow_mismatch:
        text = "\n".join(
            f"  task {task!r}:\n" + "\n".join(f"    {line}" for line in lines)
            for task, lines in mismatches.items()
        )
        from relcon.config import spell

        raise SubjectMismatchError(
            "runs of the same task were not scored on the same test subjects, so their scores "
            f"are not comparable:\n{text}\nEvaluate them on matched subjects (relcon benchmark "
            f"does; relcon evaluate with {spell('exclude_users_of', 'RUN')} or "
            f"{spell('subjects', 'FILE')}), or report them anyway with "
            f"{spell('allow_mismatch', True)} (the tables then say so)."
        )
    return SubjectCheck(mismatches, unchecked, splits)


# --------------------------------------------------------------------------------------------
# one label, one run
# --------------------------------------------------------------------------------------------

#: the parts of a results file whose rows carry the run's name
_LABELLED = ("rows", "few_shot", "per_class_f1", "confusion", "folds", "few_shot_runs")


def _label_key(row: dict) -> tuple[str, str]:
    return str(row["name"]), str(row["protocol"])


def _tail(source: str, n: int) -> str:
    """The last ``n`` folders of a results file's path (its own name too, unless results.json)."""
    path = Path(source)
    parts = [*path.parent.parts, *([] if path.name == "results.json" else [path.stem])]
    return "/".join(parts[-n:]) or source


def distinct_labels(results: Sequence[dict]) -> tuple[list[dict], list[str]]:
    """``(results, notes)``: the results with no (task, name, protocol) in two files.

    ``relcon evaluate`` names a run by its model (a shipped model's name, an encoder's folder),
    so two files share a label only when they hold runs of the same model: evaluated with other
    settings, or a copy. The report must neither drop one of them nor refuse them, so the label
    of each such file gains the shortest end of its path that tells the files apart
    (``relcon-wrist-small (shipped) [seed1]``), in every part of the file, and a note says so.
    Results are not modified in place; files reached twice (the same ``source``) are one file.
    """
    owners: dict[tuple[str, str, str], list[str]] = {}
    for res in results:
        src = str(res.get("source", ""))
        for part in _LABELLED:
            for row in res.get(part) or []:
                if isinstance(row, dict) and "name" in row:
                    key = (str(row.get("task")), *_label_key(row))
                    if src not in owners.setdefault(key, []):
                        owners[key].append(src)
    groups: dict[tuple[str, str], list[list[str]]] = {}
    for (_, method, protocol), sources in owners.items():
        if len(sources) > 1:
            groups.setdefault((method, protocol), []).append(sources)
    if not groups:
        return list(results), []
    rename: dict[tuple[str, str, str], str] = {}
    notes = []
    for (method, protocol), clashes in groups.items():
        files = list(dict.fromkeys(s for sources in clashes for s in sources))
        longest = max(len(Path(f).parts) for f in files)
        n = next(
            (
                n
                for n in range(1, longest + 1)
                if all(len({_tail(s, n) for s in sources}) == len(sources) for sources in clashes)
            ),
            None,
        )
        tags = {f: f if n is None else _tail(f, n) for f in files}
        for f in files:
            rename[(f, method, protocol)] = f"{method} [{tags[f]}]"
        notes.append(
            f"{method} ({protocol}) labels runs in {len(files)} files (the same model, other "
            "settings or a copy): kept apart as "
            + ", ".join(f"'{method} [{tags[f]}]' ({f})" for f in files)
        )
    out = []
    for res in results:
        src = str(res.get("source", ""))
        new = dict(res)
        for part in _LABELLED:
            if isinstance(res.get(part), list):
                new[part] = [
                    {**row, "name": rename[(src, *_label_key(row))]}
                    if isinstance(row, dict) and "name" in row and (src, *_label_key(row)) in rename
                    else row
                    for row in res[part]
                ]
        if res.get("name") is not None:
            own = (src, str(res["name"]), str(res["protocol"]))
            new["name"] = rename.get(own, res["name"])
        out.append(new)
    return out, notes


# --------------------------------------------------------------------------------------------
# scores per unit
# --------------------------------------------------------------------------------------------


def fold_scores(result: dict, metric: str) -> dict[str, float]:
    """``split name -> value`` of ``metric`` from a results file's per-fold rows."""
    out = {}
    for row in result.get("folds") or []:
        if isinstance(row, dict) and row.get("metric") == metric and "split" in row:
            out[str(row["split"])] = float(row["value"])
    return out


def subject_scores(result: dict, metric: str, cache: dict | None = None) -> dict[str, float] | None:
    """``subject -> metric`` computed on each test subject's windows from the saved predictions.

    A subject tested in several splits (repeated fold seeds) gets the mean of its scores.
    ``None`` when a split's ``predictions.npz`` is missing or the task type is unknown.
    """
    from relcon.eval.metrics import score

    task = result.get("task")
    if not isinstance(task, dict) or task.get("type") not in ("classification", "regression"):
        return None
    if not isinstance(task.get("splits"), list) or not task["splits"]:
        return None
    per: dict[str, list[float]] = {}
    for split in task["splits"]:
        pred = _load_predictions(_predictions_path(result, split), cache)
        if pred is None or not {"y_true", "y_pred", "groups"} <= set(pred):
            return None
        groups = pred["groups"]
        for g in np.unique(groups):
            m = groups == g
            value = score(task["type"], pred["y_true"][m], pred["y_pred"][m]).get(metric)
            if value is None:
                return None
            per.setdefault(str(g), []).append(float(value))
    return {g: float(np.mean(v)) for g, v in per.items()}


# --------------------------------------------------------------------------------------------
# comparisons against a reference
# --------------------------------------------------------------------------------------------


def _choose_reference(entries: list[tuple[str, str]], reference: str | None):
    """The reference (name, protocol) among ``entries``; ``None`` if ``reference`` is absent."""
    if reference is None:
        for m, p in entries:
            if "relcon" in m.lower() and p == "linear":
                return m, p
        return entries[0] if entries else None
    matches = [(m, p) for m, p in entries if m == reference]
    if not matches:  # "label:protocol" or "label (protocol)"
        matches = [(m, p) for m, p in entries if reference in (f"{m}:{p}", f"{m} ({p})")]
    if not matches:
        return None
    return next(((m, p) for m, p in matches if p == "linear"), matches[0])


def _pair(a: dict[str, float], b: dict[str, float]) -> tuple[list[str], np.ndarray]:
    units = [u for u in a if u in b and math.isfinite(a[u]) and math.isfinite(b[u])]
    return units, np.array([a[u] - b[u] for u in units], dtype=np.float64)


def _runs_by_task(
    results: list[dict], headline: dict[str, str], keep: Callable[[dict], bool]
) -> dict[str, dict[tuple[str, str], dict]]:
    """task -> (name, protocol) -> result, for the results of a headline task that ``keep``
    accepts; two files giving one label to different runs are refused."""
    runs: dict[str, dict[tuple[str, str], dict]] = {}
    for res in results:
        task, name, protocol = _task_name(res), res.get("name"), res.get("protocol")
        if task in headline and name is not None and keep(res):
            key = (str(name), str(protocol))
            prev = runs.setdefault(task, {}).setdefault(key, res)
            if prev is not res and prev.get("source") != res.get("source"):
                raise ValueError(
                    f"{task}: {key[0]} ({key[1]}) is the label of runs in two files, "
                    f"{prev.get('source')} and {res.get('source')}; tell them apart first "
                    "(relcon.eval.paired.distinct_labels, which relcon report applies)"
                )
    return runs


@dataclass(frozen=True)
class Pairing:
    """How :func:`paired_comparisons` and :func:`paired_few_shot` pair runs.

    Parameters
    ----------
    lower_is_better : callable ``metric -> bool``: whether a smaller value is better.
    reference : a run's name, or ``name:protocol``; default per task: the first run whose
        label contains "relcon" with the linear protocol, else the task's first run.
    n_resamples, seed : the bootstrap's resamples and seed.
    allow_mismatch : pair runs scored on different test subjects (on the ones they share)
        instead of raising :class:`SubjectMismatchError`.
    cache : a dict the functions fill with the prediction files they read (pass one dict
        to several calls to read each file once).
    """

    lower_is_better: Callable[[str], bool]
    reference: str | None = None
    n_resamples: int = N_RESAMPLES
    seed: int = 0
    allow_mismatch: bool = False
    cache: dict | None = field(default=None, compare=False)


def _tasks_to_pair(
    results: Sequence[dict], headline: dict[str, str], p: Pairing, few_shot: bool, notes: list
):
    """Per task: ``(task, metric, lower, runs by (name, protocol), the reference's key)``,
    after the subjects are checked (:func:`check_subjects`); a task without the asked-for
    reference gets a note instead."""
    check_subjects(results, allow_mismatch=p.allow_mismatch, cache=p.cache)
    keep = (lambda res: bool(res.get("few_shot_runs"))) if few_shot else (lambda res: True)
    for task, by_entry in _runs_by_task(results, headline, keep).items():
        ref_key = _choose_reference(list(by_entry), p.reference)
        if ref_key is None:
            what = "few-shot run" if few_shot else "run"
            notes.append(f"{task}: no {what} labelled {p.reference!r}; no paired statistics")
            continue
        yield task, headline[task], p.lower_is_better(headline[task]), by_entry, ref_key


def paired_comparisons(
    results: Sequence[dict], headline: dict[str, str], pairing: Pairing
) -> tuple[list[dict], list[dict], list[str]]:
    """Every run against the reference run of its task, on ``headline[task]``.

    Parameters
    ----------
    results : loaded ``results.json`` files (:func:`relcon.eval.results.read_results`: each
        one run, protocol and task).
    headline : task -> the metric compared.
    pairing : the reference, the metric's direction, the bootstrap (:class:`Pairing`).

    Returns
    -------
    ``(rows, units, notes)``: one row per (task, name, protocol) with the reference, the fold
    and subject differences (``fold_diff``, ``diff``, ``ci_low``, ``ci_high``, ``n_units``,
    ``unit``, ``folds_better``, ``n_folds``) and the ``mark`` (``ref`` for the reference); one
    row per paired unit (subject or fold) with both scores and the difference; and notes on
    what could not be compared.
    """
    p, cache = pairing, pairing.cache
    rows, units, notes = [], [], []
    tasks = _tasks_to_pair(results, headline, p, few_shot=False, notes=notes)
    for task, metric, lower, by_entry, ref_key in tasks:
        ref = by_entry[ref_key]
        ref_subjects = subject_scores(ref, metric, cache)
        ref_folds = fold_scores(ref, metric)
        ref_tested = {s["name"]: s["test_subjects"] for s in result_splits(ref) or []}
        for (name, protocol), res in by_entry.items():
            row = {
                "task": task, "metric": metric, "name": name, "protocol": protocol,
                "reference": f"{ref_key[0]} ({ref_key[1]})", "source": res.get("source", ""),
            }  # fmt: skip
            if (name, protocol) == ref_key:
                rows.append({**row, "mark": "ref"})
                continue
            folds = fold_scores(res, metric)
            tested = {s["name"]: s["test_subjects"] for s in result_splits(res) or []}
            if tested and ref_tested:  # pair only folds with the same test subjects
                folds = {k: v for k, v in folds.items() if tested.get(k) == ref_tested.get(k)}
            subj = subject_scores(res, metric, cache)
            scores = (folds, ref_folds, subj, ref_subjects)
            _add_paired(row, scores, lower, p, (rows, units, notes), f"{task}: ")
    return rows, units, notes


def _add_paired(row: dict, scores: tuple, lower: bool, p: Pairing, out: tuple, where: str):
    """Pair one run with its reference: per subject where both have per-subject scores, else
    per fold; append its row to ``out[0]``, its unit rows to ``out[1]`` and any note to
    ``out[2]``. ``scores``: ``(folds, reference folds, subjects, reference subjects)``."""
    folds, ref_folds, subj, ref_subj = scores
    rows, units, notes = out
    f_units, f_diff = _pair(folds, ref_folds)
    if subj is not None and ref_subj is not None:
        unit, (u_ids, u_diff), mine, theirs = "subject", _pair(subj, ref_subj), subj, ref_subj
    else:
        unit, u_ids, u_diff, mine, theirs = "fold", f_units, f_diff, folds, ref_folds
    if len(u_ids) == 0:
        notes.append(
            f"{where}{row['name']} ({row['protocol']}) shares no test units with {row['reference']}"
        )
    stats = _stats((u_ids, u_diff), (f_units, f_diff), lower, p.n_resamples, p.seed)
    rows.append({**row, "unit": unit, **stats})
    kinds = [("fold", f_units, f_diff, folds, ref_folds)]
    if unit == "subject":
        kinds.append(("subject", u_ids, u_diff, mine, theirs))
    units += _unit_rows(row, kinds)


def _stats(paired_units, paired_folds, lower: bool, n_resamples: int, seed: int) -> dict:
    """The paired numbers of one row: the mean difference per unit with its bootstrap interval
    and mark, and the difference of fold means with the folds that are better."""
    (u_ids, u_diff), (f_units, f_diff) = paired_units, paired_folds
    ci = bootstrap_ci(u_diff, n_resamples=n_resamples, seed=seed) if len(u_ids) >= 2 else None
    better = (f_diff < 0) if lower else (f_diff > 0)
    return {
        "n_units": len(u_ids),
        "diff": float(u_diff.mean()) if len(u_ids) else math.nan,
        "ci_low": ci.low if ci else math.nan,
        "ci_high": ci.high if ci else math.nan,
        "fold_diff": float(f_diff.mean()) if len(f_units) else math.nan,
        "folds_better": int(better.sum()),
        "n_folds": len(f_units),
        "mark": paired_mark(ci, lower),
    }


def _unit_rows(row: dict, kinds: list) -> list[dict]:
    """One row per paired unit: ``kinds`` holds ``(unit, ids, diffs, scores, ref_scores)``."""
    keys = ("task", "metric", "name", "protocol", "reference", "k")
    base = {key: row[key] for key in keys if key in row}
    return [
        {**base, "unit": kind, "id": u, "score": a[u], "reference_score": b[u], "diff": float(d)}
        for kind, ids, diffs, a, b in kinds
        for u, d in zip(ids, diffs, strict=True)
    ]


# --------------------------------------------------------------------------------------------
# few-shot runs
# --------------------------------------------------------------------------------------------


def few_shot_scores(
    result: dict, metric: str, k: int, keys: set[tuple[str, int]] | None = None
) -> tuple[dict[str, float], dict[str, float] | None]:
    """``(per split, per subject)`` scores of a results file's few-shot runs at ``k``.

    Per split: the mean over the few-shot seeds. Per subject (from each run's ``subjects``,
    ``None`` when a run lacks them): the mean over the seeds within each split the subject is
    tested in, then over those splits (repeated fold seeds). ``keys`` restricts the runs to
    these ``(split, seed)`` pairs (the ones both sides of a comparison have).
    """
    per_split: dict[str, list[float]] = {}
    per_subject: dict[str, dict[str, list[float]]] = {}
    complete = True
    for row in result.get("few_shot_runs") or []:
        if row.get("metric") != metric or row.get("k") != k:
            continue
        if keys is not None and (row["split"], row["seed"]) not in keys:
            continue
        per_split.setdefault(row["split"], []).append(float(row["value"]))
        subjects = row.get("subjects")
        if not isinstance(subjects, dict) or not subjects:
            complete = False
            continue
        for g, v in subjects.items():
            per_subject.setdefault(str(g), {}).setdefault(row["split"], []).append(float(v))
    folds = {split: float(np.mean(v)) for split, v in per_split.items()}
    if not complete or not per_subject:
        return folds, None
    subjects = {
        g: float(np.mean([np.mean(v) for v in by_split.values()]))
        for g, by_split in per_subject.items()
    }
    return folds, subjects


def _run_keys(result: dict, metric: str, k: int) -> set[tuple[str, int]]:
    return {
        (row["split"], row["seed"])
        for row in result.get("few_shot_runs") or []
        if row.get("metric") == metric and row.get("k") == k
    }


def _run_subjects(result: dict, metric: str, k: int) -> dict[str, set[str]]:
    """split -> the subjects its few-shot runs at ``k`` were scored on (where recorded)."""
    out: dict[str, set[str]] = {}
    for row in result.get("few_shot_runs") or []:
        if row.get("metric") == metric and row.get("k") == k and row.get("subjects"):
            out.setdefault(row["split"], set()).update(str(g) for g in row["subjects"])
    return out


def paired_few_shot(
    results: Sequence[dict], headline: dict[str, str], pairing: Pairing
) -> tuple[list[dict], list[dict], list[str]]:
    """Few-shot runs against the reference run of their task, at every ``k``, on ``headline``.

    As :func:`paired_comparisons`, per labelled windows per class ``k`` (the ``few_shot_runs``
    of each file; ``k`` "all" is left out: the full-label comparison covers it). Each run's
    score per test subject is first averaged over its few-shot seeds (and over repeated fold
    seeds), then paired with the reference's on the same subject; without per-subject scores
    in the files, per split (the mean over the seeds). Only ``(split, seed)`` runs present on
    both sides are paired: the seeds fix the labelled windows drawn, so both sides were
    trained on the same windows whatever their features. The reference is the run
    :func:`paired_comparisons` would choose, with the same protocol as the run where the
    reference features were evaluated with it (a nearest-centroid run is paired with the
    reference's nearest-centroid run, which is itself paired with the reference run, so
    that the two probes are compared too). Runs scored on other test subjects are refused
    (:class:`SubjectMismatchError`) unless ``pairing.allow_mismatch``, as for full labels.

    Returns ``(rows, units, notes)`` as :func:`paired_comparisons`, every row with its ``k``.
    """
    p = pairing
    rows, units, notes = [], [], []
    tasks = _tasks_to_pair(results, headline, p, few_shot=True, notes=notes)
    for task, metric, lower, by_entry, chosen in tasks:
        ks = sorted(
            {r["k"] for res in by_entry.values() for r in res["few_shot_runs"]
             if r.get("metric") == metric and r.get("k") is not None}
        )  # fmt: skip
        for k in ks:
            for (name, protocol), res in by_entry.items():
                ref_key = (chosen[0], protocol) if (chosen[0], protocol) in by_entry else chosen
                if (name, protocol) == ref_key != chosen:  # the reference features' other probe
                    ref_key = chosen  # against their first one: the probes compared
                ref = by_entry[ref_key]
                row = {
                    "task": task, "metric": metric, "name": name, "protocol": protocol, "k": k,
                    "reference": f"{ref_key[0]} ({ref_key[1]})", "source": res.get("source", ""),
                }  # fmt: skip
                mine, theirs = _run_keys(res, metric, k), _run_keys(ref, metric, k)
                if not mine:
                    continue
                if (name, protocol) == ref_key:
                    rows.append({**row, "mark": "ref"})
                    continue
                keys = mine & theirs
                if keys != mine or keys != theirs:
                    notes.append(
                        f"{task} k={k}: {name} ({protocol}) and {row['reference']} share "
                        f"{len(keys)} of {len(mine | theirs)} (split, seed) few-shot runs; "
                        "paired on those"
                    )
                _check_few_shot_subjects(res, ref, metric, k, task, p.allow_mismatch)
                folds, subj = few_shot_scores(res, metric, k, keys)
                ref_folds, ref_subj = few_shot_scores(ref, metric, k, keys)
                scores = (folds, ref_folds, subj, ref_subj)
                _add_paired(row, scores, lower, p, (rows, units, notes), f"{task} k={k}: ")
    return rows, units, notes


def _check_few_shot_subjects(res, ref, metric, k, task, allow_mismatch) -> None:
    """Refuse few-shot runs whose per-subject scores name other subjects than the reference's
    in one split (the splits' own test subjects are checked by :func:`check_subjects`)."""
    a, b = _run_subjects(res, metric, k), _run_subjects(ref, metric, k)
    diff = [
        f"{split}: subjects only in {res.get('source')} {_listing(sorted(a[split] - b[split]))}, "
        f"only in {ref.get('source')} {_listing(sorted(b[split] - a[split]))}"
        for split in sorted(set(a) & set(b))
        if a[split] != b[split]
    ]
    if diff and not allow_mismatch:
        raise SubjectMismatchError(
            f"task {task!r}, few-shot k={k}: runs were not scored on the same test subjects, "
            "so their scores are not comparable:\n" + "\n".join(f"    {d}" for d in diff)
        )
