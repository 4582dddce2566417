import jax
import khipu.core as kc
import numpy as np
import pytest


def test_key_sequence_is_reproducible_and_never_repeats() -> None:
    seq_a, seq_b = kc.KeySequence(3), kc.KeySequence(3)
    a = np.stack([jax.random.key_data(next(seq_a)) for _ in range(5)])
    b = np.stack([jax.random.key_data(next(seq_b)) for _ in range(5)])
    np.testing.assert_array_equal(a, b)
    assert len({tuple(row) for row in a.tolist()}) == 5


def test_take_returns_distinct_typed_keys() -> None:
    keys = kc.KeySequence(0).take(4)
    assert keys.shape == (4,)
    assert jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
    data = np.asarray(jax.random.key_data(keys))
    assert len({tuple(r) for r in data.tolist()}) == 4


def test_as_key_accepts_raw_and_typed_keys_and_rejects_negative_seed() -> None:
    typed = jax.random.key(5)
    assert kc.as_key(typed) is typed
    raw = jax.random.key_data(typed)
    np.testing.assert_array_equal(jax.random.key_data(kc.as_key(raw)), raw)
    with pytest.raises(kc.KhipuError, match="non-negative"):
        kc.as_key(-1)


def test_numpy_rng_is_deterministic_per_key() -> None:
    a = kc.numpy_rng(jax.random.key(1)).integers(0, 1000, 5)
    b = kc.numpy_rng(jax.random.key(1)).integers(0, 1000, 5)
    c = kc.numpy_rng(jax.random.key(2)).integers(0, 1000, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
