"""Policies and value networks: the practical's linear policy and Haiku MLPs.

Every trained policy is described by a :class:`PolicySpec` (what network, what
sizes) plus its parameters, which is all a checkpoint needs to act again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
from khipu.core import KhipuError

Params = Any
PolicyKind = Literal["linear", "logits", "q", "actor_critic"]
POLICY_KINDS: tuple[str, ...] = ("linear", "logits", "q", "actor_critic")
MAX_SPEC_SIZE = 8_192  # observation, action and layer sizes a checkpoint may claim


class PolicySpec(NamedTuple):
    """How to rebuild a policy from its parameters.

    Attributes:
      kind: ``"linear"`` (random search), ``"logits"`` (REINFORCE), ``"q"``
        (DQN) or ``"actor_critic"`` (PPO).
      obs_dim: size of the (flat) observation.
      num_actions: number of discrete actions.
      hidden: hidden layer sizes of the MLPs (unused for ``"linear"``).
    """

    kind: str
    obs_dim: int
    num_actions: int
    hidden: tuple[int, ...] = (64, 64)

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON-serialisable metadata."""
        return {
            "kind": self.kind,
            "obs_dim": self.obs_dim,
            "num_actions": self.num_actions,
            "hidden": list(self.hidden),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicySpec:
        """Reads :meth:`to_json`'s output, checking it."""
        try:
            spec = cls(
                str(data["kind"]),
                int(data["obs_dim"]),
                int(data["num_actions"]),
                tuple(int(h) for h in data["hidden"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            shown = repr(data) if len(repr(data)) <= 120 else repr(data)[:117] + "..."
            raise KhipuError(f"invalid policy description in checkpoint: {shown}") from exc
        if spec.kind not in POLICY_KINDS:
            raise KhipuError(f"unknown policy kind {spec.kind[:40]!r} in checkpoint")
        for name, value in (("obs_dim", spec.obs_dim), ("num_actions", spec.num_actions)):
            if not 1 <= value <= MAX_SPEC_SIZE:
                raise KhipuError(
                    f"policy checkpoint: {name} must be in [1, {MAX_SPEC_SIZE}], got {value}"
                )
        if len(spec.hidden) > 16 or not all(1 <= h <= MAX_SPEC_SIZE for h in spec.hidden):
            raise KhipuError(
                f"policy checkpoint: hidden must be at most 16 layer widths in "
                f"[1, {MAX_SPEC_SIZE}], got {len(spec.hidden)} layers"
            )
        return spec


def linear_policy(params: jax.Array, obs: jax.Array) -> jax.Array:
    """The practical's linear policy.

    With ``params`` of shape ``[obs_dim]`` (two actions): action 1 if
    ``params . obs > 0`` else 0. With ``[obs_dim, num_actions]``: the argmax of
    ``obs @ params``.
    """
    if params.ndim == 1:
        return jnp.where(jnp.dot(params, obs) > 0, 1, 0).astype(jnp.int32)
    return jnp.argmax(obs @ params, axis=-1).astype(jnp.int32)


def mlp(
    hidden: Sequence[int],
    out: int,
    *,
    activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
    name: str | None = None,
    out_scale: float = 1.0,
) -> Callable[[jax.Array], jax.Array]:
    """An MLP ``hidden... -> out``; the last layer's initial weights are scaled by ``out_scale``."""
    prefix = f"{name}_" if name else ""
    layers: list[Any] = []
    for i, h in enumerate(hidden):
        layers += [hk.Linear(h, name=f"{prefix}hidden_{i}"), activation]
    w_init = hk.initializers.VarianceScaling(out_scale**2, "fan_in", "truncated_normal")
    layers.append(hk.Linear(out, w_init=w_init, name=f"{prefix}out"))
    return hk.Sequential(layers, name=name)


def _mlp_net(hidden: Sequence[int], out: int, out_scale: float) -> hk.Transformed:
    def forward(obs: jax.Array) -> jax.Array:
        return mlp(hidden, out, out_scale=out_scale)(obs)

    return hk.without_apply_rng(hk.transform(forward))


def logits_network(num_actions: int, hidden: Sequence[int] = (64, 64)) -> hk.Transformed:
    """REINFORCE's policy: observation ``[..., obs_dim]`` -> action logits ``[..., A]``."""
    return _mlp_net(hidden, num_actions, 0.01)


def q_network(num_actions: int, hidden: Sequence[int] = (64, 64)) -> hk.Transformed:
    """DQN's Q-network: observation ``[..., obs_dim]`` -> action values ``[..., A]``."""
    return _mlp_net(hidden, num_actions, 1.0)


def actor_critic_network(num_actions: int, hidden: Sequence[int] = (64, 64)) -> hk.Transformed:
    """PPO's separate actor and critic (tanh MLPs): obs -> ``(logits [..., A], value [...])``."""

    def forward(obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = mlp(hidden, num_actions, activation=jnp.tanh, name="actor", out_scale=0.01)(obs)
        value = mlp(hidden, 1, activation=jnp.tanh, name="critic", out_scale=1.0)(obs)
        return logits, value[..., 0]

    return hk.without_apply_rng(hk.transform(forward))


def init_policy_params(spec: PolicySpec, key: jax.Array) -> Params:
    """Fresh parameters for ``spec`` (the structure a checkpoint restores into)."""
    obs = jnp.zeros((spec.obs_dim,), jnp.float32)
    if spec.kind == "linear":
        shape = (spec.obs_dim,) if spec.num_actions == 2 else (spec.obs_dim, spec.num_actions)
        return jnp.ones(shape, jnp.float32)
    return network_for(spec).init(key, obs)


def network_for(spec: PolicySpec) -> hk.Transformed:
    """The Haiku network of an MLP policy spec."""
    if spec.kind == "logits":
        return logits_network(spec.num_actions, spec.hidden)
    if spec.kind == "q":
        return q_network(spec.num_actions, spec.hidden)
    if spec.kind == "actor_critic":
        return actor_critic_network(spec.num_actions, spec.hidden)
    raise KhipuError(f"policy kind {spec.kind!r} has no network")


def greedy_policy(spec: PolicySpec) -> Callable[[Params, jax.Array], jax.Array]:
    """``act(params, obs) -> action``: the deterministic (greedy) action of a policy.

    Linear: the practical's rule; logits / actor-critic: the most probable
    action; Q: the action of highest value. Works on one observation or a batch.
    """
    if spec.kind == "linear":
        return lambda params, obs: linear_policy(params, obs)
    net = network_for(spec)
    if spec.kind == "actor_critic":
        return lambda params, obs: jnp.argmax(net.apply(params, obs)[0], axis=-1)
    return lambda params, obs: jnp.argmax(net.apply(params, obs), axis=-1)


def sampled_policy(spec: PolicySpec) -> Callable[[Params, jax.Array, jax.Array], jax.Array]:
    """``act(params, obs, key) -> action`` sampling from a stochastic policy's distribution."""
    if spec.kind not in ("logits", "actor_critic"):
        raise KhipuError(f"a {spec.kind!r} policy has no action distribution to sample")
    net = network_for(spec)

    def act(params: Params, obs: jax.Array, key: jax.Array) -> jax.Array:
        out = net.apply(params, obs)
        logits = out[0] if spec.kind == "actor_critic" else out
        return jax.random.categorical(key, logits)

    return act
