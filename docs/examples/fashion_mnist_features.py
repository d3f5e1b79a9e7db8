"""Learned patch features on Fashion-MNIST (Coates, Lee & Ng 2011) with im2col_nb.features.

Reads the IDX files that Debian's ``dataset-fashion-mnist`` package installs
(``apt-get install dataset-fashion-mnist`` -> /usr/share/datasets/fashion-mnist/),
with NumPy only; nothing is downloaded. Without the files the script says so
and exits 0.

What it measures, on the same train/test images:

1. raw pixels + a linear classifier (standardised pixels, logistic regression);
2. learned features + the same classifier: random patches -> normalise ->
   ZCA -> k-means (im2col_nb.features), then every patch of every image
   encoded (triangle) and sum-pooled over a grid, as convolutions;
3. the time of the same feature pipeline built from scikit-learn's
   ``extract_patches_2d`` + ``MiniBatchKMeans`` (NumPy for the normalisation,
   whitening, encoding and pooling), stage by stage;

and saves the learned filters as a picture. The classifier's C is chosen on
a validation split carved out of the training images (never on the test
images).

Run::

    python docs/examples/fashion_mnist_features.py                 # full 60k/10k
    python docs/examples/fashion_mnist_features.py --train 20000   # a subset
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """An IDX file (optionally gzipped) as a NumPy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (magic {data[:4]!r})")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype = np.dtype(dtypes[data[2]])
    ndim = data[3]
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", ndim, 4))
    return np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def find(root, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            return path
    return None


def load_fashion_mnist(root=DATA_DIR):
    """(x_train, y_train, x_test, y_test) as uint8 images / labels, or None if absent."""
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = [find(root, s) for s in stems]
    if any(p is None for p in paths):
        return None
    return tuple(read_idx(p) for p in paths)


class Timer:
    def __init__(self):
        self.times = {}

    def __call__(self, name):
        timer = self

        class _Stage:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                timer.times[name] = timer.times.get(name, 0.0) + time.perf_counter() - self.start
                print(f"  {name:<34s}{timer.times[name]:8.1f} s", flush=True)
        return _Stage()


def fit_classifier(f_train, y_train, f_val, y_val, c_grid, timer, label):
    """Standardise, pick C on the validation split, refit on train+val."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    with timer(f"{label}: choose C on validation"):
        scaler = StandardScaler().fit(f_train)
        a, b = scaler.transform(f_train), scaler.transform(f_val)
        scores = {}
        for c in c_grid:
            scores[c] = LogisticRegression(C=c, max_iter=300, tol=1e-3).fit(a, y_train).score(b, y_val)
        best = max(scores, key=scores.get)
    with timer(f"{label}: fit classifier"):
        f_all = np.concatenate([f_train, f_val])
        y_all = np.concatenate([y_train, y_val])
        scaler = StandardScaler().fit(f_all)
        clf = LogisticRegression(C=best, max_iter=300, tol=1e-3).fit(scaler.transform(f_all), y_all)
    return scaler, clf, best, scores


# ---------------------------------------------------------------------------
# the same pipeline from scikit-learn building blocks
# ---------------------------------------------------------------------------

def sklearn_pipeline_features(x_fit, x_sets, args, timer):
    """Coates-Ng features from extract_patches_2d + MiniBatchKMeans (+ NumPy)."""
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.feature_extraction.image import extract_patches_2d

    k, ps, eps_norm, eps_zca = args.clusters, args.patch, args.eps_norm, args.eps_zca
    rng = np.random.RandomState(args.seed)
    with timer("sklearn: sample patches"):
        per_image = int(np.ceil(args.n_patches / len(x_fit)))
        patches = np.concatenate([extract_patches_2d(img, (ps, ps), max_patches=per_image, random_state=rng)
                                  for img in x_fit]).reshape(-1, ps * ps)[:args.n_patches]
    with timer("sklearn: normalise + ZCA"):
        p = patches.astype(np.float64)
        p = (p - p.mean(1, keepdims=True)) / np.sqrt(p.var(1, keepdims=True) + eps_norm)
        mean = p.mean(0)
        evals, evecs = np.linalg.eigh(np.cov(p - mean, rowvar=False, bias=True))
        wmat = (evecs / np.sqrt(evals + eps_zca)) @ evecs.T
        white = (p - mean) @ wmat
    with timer("sklearn: MiniBatchKMeans"):
        km = MiniBatchKMeans(k, batch_size=args.kmeans_batch, n_init=1, max_iter=args.max_iter,
                             random_state=args.seed).fit(white)
    print(f"  MiniBatchKMeans: {km.n_steps_} mini-batches ({km.n_steps_ * args.kmeans_batch / len(white):.1f} "
          "passes; its early stopping)")
    out = []
    g = args.pool_grid
    for name, x in x_sets:
        with timer(f"sklearn: encode + pool {name}"):
            oh = x.shape[1] - ps + 1
            cell = -(-oh // g)
            feats = np.empty((len(x), g * g * k), dtype=np.float32)
            for b0 in range(0, len(x), 64):
                xb = x[b0:b0 + 64]
                pb = np.concatenate([extract_patches_2d(img, (ps, ps)) for img in xb]).reshape(-1, ps * ps)
                pb = pb.astype(np.float32)
                pb = (pb - pb.mean(1, keepdims=True)) / np.sqrt(pb.var(1, keepdims=True) + eps_norm)
                pb = (pb - mean.astype(np.float32)) @ wmat.astype(np.float32)
                z = km.transform(pb)                            # Euclidean distances to the centres
                codes = np.maximum(0.0, z.mean(1, keepdims=True) - z).reshape(len(xb), oh, oh, k)
                pooled = np.add.reduceat(np.add.reduceat(codes, np.arange(0, oh, cell), axis=1),
                                         np.arange(0, oh, cell), axis=2)
                feats[b0:b0 + len(xb)] = pooled.reshape(len(xb), -1)
        out.append(feats)
    return out


# ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DATA_DIR)
    parser.add_argument("--train", type=int, default=60000, help="training images used (first N)")
    parser.add_argument("--test", type=int, default=10000, help="test images used (first N)")
    parser.add_argument("--val", type=float, default=0.1, help="fraction of the training images held out to pick C")
    parser.add_argument("--clusters", type=int, default=400)
    parser.add_argument("--patch", type=int, default=6)
    parser.add_argument("--pool-grid", type=int, default=3)
    parser.add_argument("--n-patches", type=int, default=100_000)
    parser.add_argument("--eps-norm", type=float, default=10.0)
    parser.add_argument("--eps-zca", type=float, default=0.1)
    parser.add_argument("--kmeans-batch", type=int, default=2048)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--c", type=float, nargs="+", default=[0.003, 0.01, 0.03])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sklearn-images", type=int, default=None,
                        help="run the scikit-learn pipeline on this many training images (default: all used)")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn timing comparison")
    parser.add_argument("--filters", default=os.path.join(os.path.dirname(__file__), "..", "img",
                                                          "fashion-mnist-filters.png"))
    parser.add_argument("--json", default=None, help="write the measured numbers here")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for Numba and the BLAS (im2col_nb.threads), for both pipelines; "
                             "1 avoids BLAS oversubscription on a busy machine")
    args = parser.parse_args(argv)
    import im2col_nb
    with im2col_nb.threads(args.threads):
        return run(args)


def run(args):

    data = load_fashion_mnist(args.data)
    if data is None:
        print(f"Fashion-MNIST IDX files not found under {args.data}: skipping "
              "(apt-get install dataset-fashion-mnist)")
        return 0
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("scikit-learn is not installed: skipping (pip install 'im2col_nb[features]')")
        return 0

    import im2col_nb
    from im2col_nb.features import PatchFeatures, extract_features, plot_filters

    x_train, y_train, x_test, y_test = data
    x_train, y_train = x_train[:args.train], y_train[:args.train].astype(np.int64)
    x_test, y_test = x_test[:args.test], y_test[:args.test].astype(np.int64)
    n_val = int(round(args.val * len(x_train)))
    perm = np.random.default_rng(args.seed).permutation(len(x_train))
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    print(f"Fashion-MNIST: {len(x_train)} training images ({len(tr_idx)} fit + {n_val} validation), "
          f"{len(x_test)} test images; backend {im2col_nb.get_backend()}, "
          f"{im2col_nb.get_num_threads()} thread(s), "
          f"K={args.clusters}, {args.patch}x{args.patch} patches, {args.pool_grid}x{args.pool_grid} pooling")
    timer = Timer()
    results = {"config": vars(args).copy(), "n_train": len(x_train), "n_test": len(x_test)}

    # 1. raw pixels
    print("raw pixels")
    raw = lambda x: x.reshape(len(x), -1).astype(np.float32)  # noqa: E731
    scaler, clf, c_raw, _ = fit_classifier(raw(x_train[tr_idx]), y_train[tr_idx], raw(x_train[val_idx]),
                                           y_train[val_idx], args.c, timer, "raw")
    acc_raw = clf.score(scaler.transform(raw(x_test)), y_test)
    print(f"  raw pixels test accuracy: {acc_raw:.4f} (C={c_raw})")

    # 2. learned features, stage by stage (what PatchFeatures.fit/transform run)
    print("im2col_nb.features")
    pf = PatchFeatures(n_clusters=args.clusters, patch_size=args.patch, pool_grid=args.pool_grid,
                       n_patches=args.n_patches, eps_norm=args.eps_norm, eps_zca=args.eps_zca,
                       kmeans_batch_size=args.kmeans_batch, max_iter=args.max_iter, dtype="float32",
                       random_state=args.seed)
    t0 = time.perf_counter()
    with timer("im2col_nb: fit (patches, ZCA, k-means)"):
        pf.fit(x_train)                                          # unsupervised: labels unused
    feats = {}
    for name, x in (("train", x_train), ("test", x_test)):
        with timer(f"im2col_nb: encode + pool {name}"):
            feats[name] = pf.transform(x)
    t_ours = time.perf_counter() - t0
    print(f"  {pf.n_patches_} patches, k-means {pf.n_iter_} passes; features {feats['train'].shape[1]} per image")
    scaler, clf, c_feat, _ = fit_classifier(feats["train"][tr_idx], y_train[tr_idx], feats["train"][val_idx],
                                            y_train[val_idx], args.c, timer, "features")
    acc_feat = clf.score(scaler.transform(feats["test"]), y_test)
    print(f"  learned features test accuracy: {acc_feat:.4f} (C={c_feat})")
    results.update(acc_raw=acc_raw, acc_features=acc_feat, c_raw=c_raw, c_features=c_feat,
                   n_patches=pf.n_patches_, kmeans_passes=pf.n_iter_, n_features=int(feats["train"].shape[1]),
                   time_features_im2col_nb=t_ours)

    # a sanity check that transform is the documented convolutional pipeline
    check = extract_features(x_test[:5].astype(np.float32), pf.filters_, eps_norm=args.eps_norm,
                             whitening_mean=pf.whitening_mean_, whitening=pf.whitening_,
                             pool_grid=args.pool_grid)
    np.testing.assert_allclose(check, feats["test"][:5], rtol=1e-5, atol=1e-3)

    if args.filters:
        import matplotlib
        matplotlib.use("Agg")
        os.makedirs(os.path.dirname(os.path.abspath(args.filters)), exist_ok=True)
        plot_filters(pf, n_cols=20, title=f"{args.clusters} k-means centres ({args.patch}x{args.patch}, "
                     "normalised + ZCA-whitened patches)", path=args.filters)
        print(f"  filters picture: {os.path.normpath(args.filters)}")

    # 3. the same feature pipeline from scikit-learn pieces
    if not args.no_sklearn:
        n_sk = len(x_train) if args.sklearn_images is None else min(args.sklearn_images, len(x_train))
        print(f"scikit-learn extract_patches_2d + MiniBatchKMeans ({n_sk} training + {len(x_test)} test images)")
        t0 = time.perf_counter()
        sk_train, sk_test = sklearn_pipeline_features(x_train[:n_sk], [("train", x_train[:n_sk]),
                                                                         ("test", x_test)], args, timer)
        t_sk = time.perf_counter() - t0
        results["time_features_sklearn"] = t_sk
        results["sklearn_images"] = n_sk
        if n_sk == len(x_train):
            scaler, clf, c_sk, _ = fit_classifier(sk_train[tr_idx], y_train[tr_idx], sk_train[val_idx],
                                                  y_train[val_idx], args.c, timer, "sklearn features")
            results["acc_sklearn_features"] = clf.score(scaler.transform(sk_test), y_test)
            print(f"  scikit-learn-built features test accuracy: {results['acc_sklearn_features']:.4f}")
        n_ours = len(x_train) + len(x_test)
        per_ours = results["time_features_im2col_nb"] / n_ours * 1e3
        per_sk = t_sk / (n_sk + len(x_test)) * 1e3
        print(f"feature pipeline (fit + encode): im2col_nb {results['time_features_im2col_nb']:.1f} s "
              f"({per_ours:.2f} ms/image), scikit-learn pieces {t_sk:.1f} s ({per_sk:.2f} ms/image): "
              f"{per_sk / per_ours:.1f}x")
    results["stage_seconds"] = timer.times
    print(f"test accuracy: raw pixels {acc_raw:.4f}, learned features {acc_feat:.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
