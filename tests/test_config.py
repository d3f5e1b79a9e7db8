"""The settings in one place: config() restores, validates before changing, reset_config()."""

import numpy as np
import pytest

import im2col_nb


def test_config_sets_for_the_block_and_restores_after_an_error():
    before = im2col_nb.get_config()
    with pytest.raises(RuntimeError, match="boom"):
        with im2col_nb.config(backend="numpy", num_threads=1, max_workspace_bytes=12345):
            assert im2col_nb.get_config() == {"backend": "numpy", "num_threads": 1,
                                              "max_workspace_bytes": 12345}
            y = im2col_nb.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)))
            assert y.shape == (1, 3, 3, 3) and float(y[0, 0, 0, 0]) == 18.0
            raise RuntimeError("boom")
    assert im2col_nb.get_config() == before


def test_config_restores_settings_changed_inside_the_block():
    before = im2col_nb.get_config()
    with im2col_nb.config():
        im2col_nb.set_max_workspace_bytes(2**20)
        im2col_nb.set_backend("numpy")
    assert im2col_nb.get_config() == before


@pytest.mark.parametrize("kwargs, error", [
    ({"max_workspace_bytes": 0}, ValueError),
    ({"max_workspace_bytes": 1.5}, TypeError),
    ({"num_threads": 0}, ValueError),
    ({"backend": "cuda"}, ValueError),
])
def test_bad_values_change_nothing(kwargs, error):
    before = im2col_nb.get_config()
    with pytest.raises(error):
        with im2col_nb.config(**{"backend": "numpy", "num_threads": 1,
                                 "max_workspace_bytes": 2**20, **kwargs}):
            pass  # pragma: no cover
    assert im2col_nb.get_config() == before


def test_config_takes_keywords_only():
    with pytest.raises(TypeError):
        im2col_nb.config("numpy")


def test_reset_config_restores_the_defaults():
    default_backend = im2col_nb.get_backend()
    try:
        im2col_nb.set_max_workspace_bytes(2**20)
        im2col_nb.set_num_threads(1)
        im2col_nb.set_backend("numpy")
        im2col_nb.reset_config()
        assert im2col_nb.get_config() == {"backend": default_backend,
                                          "num_threads": im2col_nb.max_num_threads(),
                                          "max_workspace_bytes": 64 * 2**20}
    finally:
        im2col_nb.reset_config()
