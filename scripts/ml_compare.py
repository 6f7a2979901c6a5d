#!/usr/bin/python3
"""Compare smartmaint's Go models with scikit-learn on the same folds.

Reads, from --dir (written by `make ml-compare`):
  folds.csv     each AI4I row's test fold, exported by `smartmaint train --export-folds`
  gbdt.json     the Go gradient-boosted trees' per-fold metrics (`smartmaint train --json`)
  iforest.json  the Go Isolation Forest's per-fold metrics
  bench.txt     `go test -bench BenchmarkScore` output for internal/ml/gbdt and internal/ml/iforest
  cmapss/       optional: train.csv and test.csv (`smartmaint train --dataset cmapss
                --export-features`), rul.json (its --json report) and rul.model (its --out)

fits scikit-learn's HistGradientBoostingClassifier and IsolationForest with the
same parameters on the same training folds, scores the same held-out folds,
times single-row predict_proba / score_samples calls, prints one table and
exits non-zero when a check fails: ROC AUC within 0.01 of scikit-learn, and
per-row scoring at least 100 times faster than a scikit-learn single-row call.

With cmapss/ it also fits HistGradientBoostingRegressor on the identical C-MAPSS
FD001 feature matrices with the Go model's parameters (squared error for the
estimate; quantile loss at the same quantiles, conformalized on engine-grouped
folds of the training engines, for the interval) and prints test RMSE, PHM08
and coverage side by side; check: RMSE within 1.0 cycle of scikit-learn.

Run it with Debian's /usr/bin/python3 and python3-sklearn (scikit-learn 1.2).
"""

import argparse
import csv
import json
import os
import re
import sys
import timeit

# One thread per call, as a per-reading service would run: OpenMP's thread
# hand-off only slows a single-row prediction, and dominates it on a busy
# two-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402 (after the thread setting)
import sklearn  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, IsolationForest  # noqa: E402
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score  # noqa: E402

AUC_TOLERANCE = 0.01
RMSE_TOLERANCE = 1.0
MIN_SPEEDUP = 100


def datasets_dir():
    d = os.environ.get("SMARTMAINT_DATASETS")
    if d:
        return d
    here = os.path.abspath(os.getcwd())
    while True:
        for c in (os.path.join(here, "shared", "datasets"), os.path.join(here, "..", "shared", "datasets")):
            if os.path.isdir(c):
                return os.path.normpath(c)
        parent = os.path.dirname(here)
        if parent == here:
            sys.exit("ml_compare: no shared/datasets folder found; set SMARTMAINT_DATASETS")
        here = parent


def load_ai4i(path):
    """The same features as internal/dataset: five process features, one-hot Type (L, M, H)."""
    X, y = [], []
    with open(path, newline="") as f:
        r = csv.reader(f)
        next(r)
        for rec in r:
            t = rec[2]
            X.append([float(v) for v in rec[3:8]] + [t == "L", t == "M", t == "H"])
            y.append(int(float(rec[8])))
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def load_folds(path, n):
    fold = np.full(n, -1)
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        for rec in r:
            fold[int(rec["row"])] = int(rec["fold"])
    if (fold < 0).any():
        sys.exit("ml_compare: folds file does not cover every row")
    return fold


def go_bench(path):
    """ns/op of BenchmarkScore per package (gbdt, iforest)."""
    out, pkg = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"pkg: \S+/internal/ml/(\w+)", line)
            if m:
                pkg = m.group(1)
            m = re.match(r"BenchmarkScore(-\d+)?\s+\d+\s+([\d.]+) ns/op", line)
            if m and pkg:
                out[pkg] = float(m.group(2))
    return out


def per_call_us(fn, number=300, repeat=5):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def load_features(path):
    """A feature CSV of `smartmaint train --dataset cmapss --export-features`: engine, features..., target."""
    with open(path, newline="") as f:
        r = csv.reader(f)
        head = next(r)
        rows = list(r)
    engine = np.asarray([int(rec[0]) for rec in rows])
    X = np.asarray([[float(v) for v in rec[1:-1]] for rec in rows], dtype=np.float64)
    y = np.asarray([float(rec[-1]) if rec[-1] != "" else np.nan for rec in rows])
    return head[1:-1], engine, X, y


def phm08(d):
    return float(np.sum(np.where(d < 0, np.exp(-d / 13) - 1, np.exp(d / 10) - 1)))


def compare_cmapss(d, seed):
    """Ours vs HistGradientBoostingRegressor on identical C-MAPSS features; returns table rows and failures."""
    from sklearn.model_selection import GroupKFold

    names, eng, X, y = load_features(os.path.join(d, "train.csv"))
    _, _, Xt, yt = load_features(os.path.join(d, "test.csv"))
    with open(os.path.join(d, "rul.json")) as f:
        go = json.load(f)
    with open(os.path.join(d, "rul.model"), "rb") as f:
        f.readline()
        meta = json.loads(f.readline())
    params = meta["params"]
    cap, coverage, gp = params["config"]["cap"], params["coverage"], params["point"]
    base = dict(learning_rate=gp["learning_rate"], max_iter=gp["max_iter"], max_leaf_nodes=gp["max_leaf_nodes"],
                max_depth=gp["max_depth"] or None, min_samples_leaf=gp["min_samples_leaf"],
                l2_regularization=gp["l2_regularization"], max_bins=gp["max_bins"], early_stopping=False,
                random_state=seed)
    alpha = 1 - coverage

    def fit(X_, y_, **kw):
        return HistGradientBoostingRegressor(**dict(base, **kw)).fit(X_, y_)

    point = fit(X, y, loss="squared_error")
    est = np.clip(point.predict(Xt), 0, cap)
    edges = np.asarray(params.get("edges") or [])

    def conformal(v):
        v = np.sort(v)
        return v[min(max(int(np.ceil((len(v) + 1) * coverage)) - 1, 0), len(v) - 1)]

    def bins(lo, hi):
        # The Go rule: the first edge the midpoint does not exceed.
        return np.searchsorted(edges, (lo + hi) / 2, side="left")

    scores, sbin = [], []
    for tr, te in GroupKFold(n_splits=5).split(X, y, eng):
        lo = fit(X[tr], y[tr], loss="quantile", quantile=alpha / 2).predict(X[te])
        hi = np.minimum(fit(X[tr], y[tr], loss="quantile", quantile=1 - alpha / 2).predict(X[te]), cap)
        scores.append(np.maximum(lo - y[te], y[te] - hi))
        sbin.append(bins(lo, hi))
    scores, sbin = np.concatenate(scores), np.concatenate(sbin)
    margin = conformal(scores)
    margins = np.asarray([conformal(scores[sbin == b]) if (sbin == b).sum() >= 100 else margin
                          for b in range(len(edges) + 1)])
    lq = fit(X, y, loss="quantile", quantile=alpha / 2).predict(Xt)
    uq = np.minimum(fit(X, y, loss="quantile", quantile=1 - alpha / 2).predict(Xt), cap)
    mg = margins[bins(lq, uq)] if len(edges) else margin
    lower = np.minimum(np.maximum(lq - mg, 0), est)
    upper = np.maximum(uq + mg, est)
    capped = np.minimum(yt, cap)
    sk = {
        "rmse": float(np.sqrt(np.mean((est - yt) ** 2))), "phm08": phm08(est - yt),
        "coverage": float(np.mean((lower <= capped) & (capped <= upper))),
        "coverage_uncapped": float(np.mean((lower <= yt) & (yt <= upper))),
        "mean_width": float(np.mean(upper - lower)),
    }
    gm = go["metrics"]
    rows, failed = [], []
    for key, label, fmt_ in (("rmse", "RMSE", "{:.2f}"), ("phm08", "PHM08 score", "{:.1f}"),
                             (None, f"{coverage:.0%} coverage of min(true, cap)", "{:.3f}"),
                             ("coverage_uncapped", f"{coverage:.0%} coverage of true RUL", "{:.3f}"),
                             ("mean_width", "interval mean width", "{:.1f}")):
        gk = key or "coverage"
        g, k = gm[gk], sk[gk]
        check = ""
        if gk == "rmse":
            check = "ok" if abs(g - k) <= RMSE_TOLERANCE else "FAIL"
            if check == "FAIL":
                failed.append("C-MAPSS RMSE")
        rows.append((f"C-MAPSS FD001 test {label}", fmt_.format(g), fmt_.format(k), fmt_.format(g - k) if fmt_ != "{:.3f}" else f"{g - k:+.3f}", check))
    header = (f"C-MAPSS FD001: {len(y)} training rows x {len(names)} features, {len(yt)} test engines at their last cycle; "
              f"cap {cap:g}, {gp['max_iter']} iterations, learning rate {gp['learning_rate']}, {gp['max_leaf_nodes']} leaves, "
              f"min {gp['min_samples_leaf']} rows a leaf; intervals: quantile {alpha / 2:.2f}/{1 - alpha / 2:.2f} models "
              f"conformalized on 5 engine-grouped folds per midpoint bin (Go margins {np.round(params.get('margins') or [params['margin']], 2)}, "
              f"sklearn {np.round(margins, 2)})")
    return header, rows, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="folder with folds.csv, gbdt.json, iforest.json, bench.txt")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--only-cmapss", action="store_true", help="compare only the C-MAPSS RUL models")
    args = ap.parse_args()
    cmapss_dir = os.path.join(args.dir, "cmapss")
    cmapss = None
    if os.path.exists(os.path.join(cmapss_dir, "train.csv")):
        cmapss = compare_cmapss(cmapss_dir, args.seed)
    if args.only_cmapss:
        if cmapss is None:
            sys.exit(f"ml_compare: no {cmapss_dir}/train.csv")
        return print_cmapss(cmapss)

    X, y = load_ai4i(os.path.join(datasets_dir(), "ai4i2020", "ai4i2020.csv"))
    fold = load_folds(os.path.join(args.dir, "folds.csv"), len(y))
    with open(os.path.join(args.dir, "gbdt.json")) as f:
        go_gbdt = json.load(f)
    with open(os.path.join(args.dir, "iforest.json")) as f:
        go_if = json.load(f)
    bench = go_bench(os.path.join(args.dir, "bench.txt"))

    # The same parameters as the Go side, read from its report.
    gp, ip = go_gbdt["params"], go_if["params"]
    hgb_params = dict(
        learning_rate=gp["learning_rate"], max_iter=gp["max_iter"], max_leaf_nodes=gp["max_leaf_nodes"],
        max_depth=gp["max_depth"] or None, min_samples_leaf=gp["min_samples_leaf"],
        l2_regularization=gp["l2_regularization"], max_bins=gp["max_bins"],
        early_stopping=gp["early_stopping"], validation_fraction=gp["validation_fraction"],
        n_iter_no_change=gp["n_iter_no_change"], tol=gp["tol"],
        class_weight=gp["class_weight"] or None, random_state=args.seed)
    k = fold.max() + 1
    sk = {"gbdt": [], "iforest": []}
    for i in range(k):
        tr, te = fold != i, fold == i
        hgb = HistGradientBoostingClassifier(**hgb_params)
        hgb.fit(X[tr], y[tr])
        p = hgb.predict_proba(X[te])[:, 1]
        pred = p >= 0.5
        sk["gbdt"].append({
            "roc_auc": roc_auc_score(y[te], p), "pr_auc": average_precision_score(y[te], p),
            "f1": f1_score(y[te], pred, zero_division=0), "recall": recall_score(y[te], pred, zero_division=0),
            "precision": precision_score(y[te], pred, zero_division=0),
        })
        iso = IsolationForest(n_estimators=ip["trees"], max_samples=ip["subsample"], random_state=args.seed)
        iso.fit(X[tr])
        s = -iso.score_samples(X[te])  # the paper's anomaly score s(x): higher is more anomalous
        sk["iforest"].append({"roc_auc": roc_auc_score(y[te], s), "pr_auc": average_precision_score(y[te], s)})

    def mean(rows, key):
        return float(np.mean([r[key] for r in rows]))

    # Single-row latency, the call a service would make per reading, with
    # the default model sizes the Go benchmarks use (100 trees each).
    row = X[:1]
    hgb_default = HistGradientBoostingClassifier(**dict(hgb_params, max_iter=100, early_stopping=False)).fit(X, y)
    iso_default = IsolationForest(n_estimators=100, max_samples=256, random_state=args.seed).fit(X)
    hgb_us = per_call_us(lambda: hgb_default.predict_proba(row), number=50, repeat=3)
    iso_us = per_call_us(lambda: iso_default.score_samples(row), number=50, repeat=3)

    rows, failed = [], []

    def quality(label, go_value, sk_value, check):
        diff = go_value - sk_value
        ok = None
        if check:
            ok = abs(diff) <= AUC_TOLERANCE
            if not ok:
                failed.append(label)
        rows.append((label, f"{go_value:.4f}", f"{sk_value:.4f}", f"{diff:+.4f}", "" if ok is None else ("ok" if ok else "FAIL")))

    for key, label, check in (("roc_auc", "ROC AUC", True), ("pr_auc", "PR AUC", False), ("f1", "F1 @0.5", False),
                              ("recall", "recall @0.5", False), ("precision", "precision @0.5", False)):
        quality(f"GBDT {label}", go_gbdt["mean"][key], mean(sk["gbdt"], key), check)
    for key, label, check in (("roc_auc", "ROC AUC", True), ("pr_auc", "PR AUC", False)):
        quality(f"Isolation Forest {label}", go_if["mean"][key], mean(sk["iforest"], key), check)

    for name, pkg, sk_us in (("GBDT", "gbdt", hgb_us), ("Isolation Forest", "iforest", iso_us)):
        go_ns = bench.get(pkg)
        if go_ns is None:
            failed.append(f"{name} Go benchmark missing")
            continue
        speedup = sk_us * 1000 / go_ns
        ok = speedup >= MIN_SPEEDUP
        if not ok:
            failed.append(f"{name} speed")
        rows.append((f"{name} one-row score", f"{go_ns / 1000:.2f} µs", f"{sk_us:.1f} µs", f"{speedup:,.0f}× faster", "ok" if ok else "FAIL"))

    print(f"AI4I 2020, stratified {k}-fold (same folds on both sides), seed {args.seed}; "
          f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print(f"GBDT: {gp['max_iter']} iterations max, {gp['max_leaf_nodes']} leaves, early stopping {gp['early_stopping']}, "
          f"class weight {gp['class_weight'] or 'none'}; Isolation Forest: {ip['trees']} trees, subsample {ip['subsample']}")
    print(f"checks: ROC AUC within {AUC_TOLERANCE} of scikit-learn; one-row scoring at least {MIN_SPEEDUP}× faster\n")
    head = ("metric (mean of folds)", "Go smartmaint", "scikit-learn", "Go − sklearn", "check")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join("{:<%d}" % widths[0:1][0] if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    print(fmt.format(*head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt.format(*r))
    print("\nper fold ROC AUC (Go / sklearn):")
    for name, go_r, sk_r in (("GBDT", go_gbdt, sk["gbdt"]), ("Isolation Forest", go_if, sk["iforest"])):
        pairs = "  ".join(f"{g['roc_auc']:.4f}/{s['roc_auc']:.4f}" for g, s in zip(go_r["folds"], sk_r))
        print(f"  {name:<17} {pairs}")
    if cmapss is not None:
        print()
        if print_cmapss(cmapss):
            failed += cmapss[2]
    if failed:
        print("\nFAILED: " + ", ".join(failed))
        return 1
    return 0


def print_cmapss(cmapss):
    """Prints the C-MAPSS table; returns 1 when a check failed."""
    header, rows, failed = cmapss
    print(header)
    print(f"check: test RMSE within {RMSE_TOLERANCE} cycle of scikit-learn\n")
    head = ("metric", "Go smartmaint", "scikit-learn", "Go − sklearn", "check")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(("{:<%d}" if i == 0 else "{:>%d}") % w for i, w in enumerate(widths))
    print(fmt.format(*head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt.format(*r))
    if failed:
        print("\nFAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
