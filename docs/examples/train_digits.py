"""Train a small convolutional network in plain NumPy with im2col_nb's kernels.

The network, on scikit-learn's bundled 8x8 handwritten digits (1,797 images,
no download):

    input (1, 8, 8)
      -> conv2d 3x3, 32 filters, padding 1 (+ bias)     (32, 8, 8)
      -> ReLU
      -> max_pool2d 2x2                                 (32, 4, 4)
      -> linear 512 -> 10, softmax cross-entropy

trained by mini-batch SGD with momentum. Every derivative is written out by
hand; the convolution and pooling ones come from the library:

* ``conv2d_weight_grad`` / ``conv2d_bias_grad`` give the filters' gradient
  (the input gradient, ``conv2d_input_grad``, is what a second conv layer
  below this one would need: the first layer never does);
* ``max_pool2d(..., return_indices=True)`` remembers where each maximum came
  from and ``max_pool2d_backward`` routes the gradient back there.

Run it (about 10 seconds on 2 cores, plus a one-off JIT compile the first
time; it needs scikit-learn: ``pip install "im2col_nb[examples]"``)::

    python docs/examples/train_digits.py

It prints the loss and test accuracy per epoch, then the final test accuracy
and the time taken; the split is stratified and every random choice is
seeded, so a run is reproducible (up to floating-point summation order in
the multi-threaded BLAS). ``tests/test_train_digits.py`` runs a shortened
version.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import im2col_nb as nb


def load_data(test_size=0.25, seed=0, dtype=np.float32):
    """Digits as (N, 1, 8, 8) images in [0, 1], split stratified by class."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(dtype)[:, None]      # (1797, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    return train_test_split(images, labels, test_size=test_size, stratify=labels,
                            random_state=seed)


class SmallCNN:
    """conv 3x3 -> ReLU -> max pool 2x2 -> linear, with a hand-written backward."""

    def __init__(self, filters=32, image_size=8, classes=10, seed=0, dtype=np.float32):
        rng = np.random.default_rng(seed)
        pooled = filters * (image_size // 2) ** 2
        # He initialisation for the ReLU layer, Glorot-like for the last one
        self.params = {
            "conv_w": (rng.standard_normal((filters, 1, 3, 3)) * np.sqrt(2.0 / 9)).astype(dtype),
            "conv_b": np.zeros(filters, dtype=dtype),
            "fc_w": (rng.standard_normal((pooled, classes)) * np.sqrt(1.0 / pooled)).astype(dtype),
            "fc_b": np.zeros(classes, dtype=dtype),
        }

    def forward(self, x):
        p = self.params
        z = nb.conv2d(x, p["conv_w"], p["conv_b"], padding=1)           # (B, F, 8, 8)
        a = np.maximum(z, 0)                                             # ReLU
        pooled, where = nb.max_pool2d(a, 2, return_indices=True)         # (B, F, 4, 4)
        logits = pooled.reshape(len(x), -1) @ p["fc_w"] + p["fc_b"]      # (B, 10)
        cache = (x, z, a.shape, pooled, where)
        return logits, cache

    def backward(self, dlogits, cache):
        """Gradients of the loss for every parameter, given dL/dlogits."""
        x, z, a_shape, pooled, where = cache
        p = self.params
        flat = pooled.reshape(len(x), -1)
        grads = {"fc_w": flat.T @ dlogits, "fc_b": dlogits.sum(axis=0)}
        dpooled = (dlogits @ p["fc_w"].T).reshape(pooled.shape)
        da = nb.max_pool2d_backward(dpooled, where, a_shape)             # to the maxima
        dz = da * (z > 0)                                                # through the ReLU
        grads["conv_w"] = nb.conv2d_weight_grad(x, p["conv_w"].shape, dz, padding=1)
        grads["conv_b"] = nb.conv2d_bias_grad(dz)
        return grads

    def predict(self, x, batch=512):
        return np.concatenate([self.forward(x[i:i + batch])[0].argmax(axis=1)
                               for i in range(0, len(x), batch)])


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -log_probs[np.arange(n), labels].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1
    return float(loss), dlogits / n


def train(epochs=30, batch_size=32, lr=0.05, momentum=0.9, weight_decay=1e-4, filters=32, seed=0,
          verbose=True):
    """Train the network; returns a dict with the per-epoch losses and test
    accuracies, the final test accuracy and the training time in seconds."""
    x_train, x_test, y_train, y_test = load_data(seed=seed)
    model = SmallCNN(filters=filters, seed=seed)
    velocity = {k: np.zeros_like(v) for k, v in model.params.items()}
    rng = np.random.default_rng(seed)
    steps_per_epoch = -(-len(x_train) // batch_size)
    total_steps = epochs * steps_per_epoch
    history = {"loss": [], "test_accuracy": []}
    step = 0
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        losses = []
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            logits, cache = model.forward(x_train[idx])
            loss, dlogits = softmax_cross_entropy(logits, y_train[idx])
            grads = model.backward(dlogits.astype(logits.dtype), cache)
            # cosine learning-rate schedule, SGD with momentum and weight decay
            rate = lr * 0.5 * (1 + np.cos(np.pi * step / total_steps))
            for name, value in model.params.items():
                g = grads[name] + (weight_decay * value if name.endswith("_w") else 0)
                velocity[name] = momentum * velocity[name] - rate * g
                value += velocity[name].astype(value.dtype)
            losses.append(loss)
            step += 1
        accuracy = float(np.mean(model.predict(x_test) == y_test))
        history["loss"].append(float(np.mean(losses)))
        history["test_accuracy"].append(accuracy)
        if verbose:
            print(f"epoch {epoch + 1:3d}  loss {history['loss'][-1]:.4f}  test accuracy {accuracy:.2%}",
                  flush=True)
    history["seconds"] = time.perf_counter() - start
    history["accuracy"] = history["test_accuracy"][-1]
    history["n_train"], history["n_test"] = len(x_train), len(x_test)
    return history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    # compile (or load from the cache) the kernels before the clock for
    # training starts, so the per-epoch numbers are steady-state
    warm = np.zeros((2, 1, 8, 8), dtype=np.float32)
    SmallCNN().backward(np.zeros((2, 10), dtype=np.float32), SmallCNN().forward(warm)[1])
    warmup = time.perf_counter() - t0
    result = train(epochs=args.epochs, seed=args.seed)
    total = time.perf_counter() - t0
    print(f"\ntest accuracy {result['accuracy']:.2%} on {result['n_test']} held-out digits "
          f"({result['n_train']} for training)")
    print(f"time: {result['seconds']:.1f} s training, {total:.1f} s in all "
          f"(JIT compile / cache load {warmup:.1f} s), backend {nb.get_backend()!r}")
    return result


if __name__ == "__main__":
    main()
