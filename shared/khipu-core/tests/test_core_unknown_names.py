"""An unknown name lists what is available, or, for a long registry (gymnasium's), the
closest names instead of the whole list."""

from __future__ import annotations

import khipu.core as kc
from khipu.core.errors import closest_names

REGISTRY = [f"Env{i:03d}-v0" for i in range(60)] + ["CartPole-v0", "CartPole-v1", "Acrobot-v1"]


def test_a_short_list_is_listed_whole() -> None:
    err = kc.UnknownNameError("model", "lenett", ["mlp", "lenet", "resnet"])
    assert str(err) == "unknown model 'lenett'; available: lenet, mlp, resnet"


def test_a_long_registry_suggests_the_closest_names() -> None:
    err = kc.UnknownNameError("gymnasium environment", "cartpol-v1", REGISTRY)
    message = str(err)
    assert message.startswith("unknown gymnasium environment 'cartpol-v1'; did you mean ")
    assert closest_names("cartpol-v1", REGISTRY)[:2] == ["CartPole-v1", "CartPole-v0"]
    assert "CartPole-v1, CartPole-v0" in message
    assert "Env000" not in message  # not the whole registry
    assert message.endswith(f"({len(REGISTRY)} available)")
    assert err.available == tuple(sorted(REGISTRY))  # still there for programs


def test_nothing_close_gives_only_the_count() -> None:
    assert str(kc.UnknownNameError("env", "zzzzzz", REGISTRY)) == (
        f"unknown env 'zzzzzz'; ({len(REGISTRY)} available)"
    )
