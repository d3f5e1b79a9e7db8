"""The worked example docs/examples/train_digits.py, shortened: a few epochs
must already learn the digits, and its hand-written backward pass must agree
with finite differences."""

import importlib.util
import os

import numpy as np
import pytest

pytest.importorskip("sklearn")

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "docs", "examples", "train_digits.py")


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_split_is_stratified_and_scaled(example):
    x_train, x_test, y_train, y_test = example.load_data()
    assert x_train.shape[1:] == (1, 8, 8) and x_train.dtype == np.float32
    assert len(x_train) + len(x_test) == 1797
    assert 0 <= x_train.min() and x_train.max() <= 1
    # stratified: every class has (almost) the same share in both parts
    train_share = np.bincount(y_train, minlength=10) / len(y_train)
    test_share = np.bincount(y_test, minlength=10) / len(y_test)
    assert np.max(np.abs(train_share - test_share)) < 0.01


@pytest.mark.jit_only
def test_short_training_learns(backend, example):
    result = example.train(epochs=3, verbose=False)
    losses = result["loss"]
    assert losses[-1] < losses[0] / 3, losses              # the loss falls fast
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert result["accuracy"] > 0.9, result["test_accuracy"]  # chance is 0.1
    # reproducible: the same seed gives the same first-epoch loss
    first, second = (example.train(epochs=1, verbose=False) for _ in range(2))
    assert np.isclose(first["loss"][0], second["loss"][0], rtol=1e-5)


def test_backward_matches_finite_differences(backend, example):
    """The example's hand-written backward (conv2d_weight_grad,
    conv2d_bias_grad, max_pool2d_backward, ReLU, linear) against central
    differences of the loss, in float64."""
    rng = np.random.default_rng(0)
    model = example.SmallCNN(filters=4, seed=1, dtype=np.float64)
    x = rng.random((5, 1, 8, 8))
    labels = rng.integers(0, 10, size=5)

    def loss():
        return example.softmax_cross_entropy(model.forward(x)[0], labels)[0]

    logits, cache = model.forward(x)
    grads = model.backward(example.softmax_cross_entropy(logits, labels)[1], cache)
    eps = 1e-6
    for name, value in model.params.items():
        for k in rng.choice(value.size, size=min(value.size, 8), replace=False):
            idx = np.unravel_index(k, value.shape)
            old = value[idx]
            value[idx] = old + eps
            up = loss()
            value[idx] = old - eps
            down = loss()
            value[idx] = old
            fd = (up - down) / (2 * eps)
            assert abs(fd - grads[name][idx]) <= 1e-6 * (1 + abs(fd)), (name, idx, fd, grads[name][idx])


def test_main_prints_accuracy_and_time(example, capsys):
    example.main(["--epochs", "1"])
    out = capsys.readouterr().out
    assert "test accuracy" in out and "time:" in out and "s training" in out
