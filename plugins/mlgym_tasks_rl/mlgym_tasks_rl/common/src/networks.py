"""Actor-critic networks. The evaluator rebuilds the network with ``get_model_ready`` and
calls ``model.apply(params, obs, rng=key)``, which must return ``(value, pi)`` where
``pi.sample(seed=key)`` draws the actions. Keep the class name ``Model`` and the function
``get_model_ready(rng, config)``.
"""

from __future__ import annotations

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp


class Categorical:
    """A categorical distribution over discrete actions, from logits."""

    def __init__(self, logits: jax.Array) -> None:
        self.logits = jax.nn.log_softmax(logits, axis=-1)

    def sample(self, seed: jax.Array) -> jax.Array:
        return jax.random.categorical(seed, self.logits, axis=-1)

    def log_prob(self, action: jax.Array) -> jax.Array:
        a = action.astype(jnp.int32)[..., None]
        return jnp.take_along_axis(self.logits, a, axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        return -jnp.sum(jnp.exp(self.logits) * self.logits, axis=-1)


class DiagGaussian:
    """A Gaussian with diagonal covariance over continuous actions."""

    def __init__(self, loc: jax.Array, scale: jax.Array) -> None:
        self.loc = loc
        self.scale = scale

    def sample(self, seed: jax.Array) -> jax.Array:
        return self.loc + self.scale * jax.random.normal(seed, self.loc.shape)

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.loc) / self.scale
        return jnp.sum(-0.5 * z**2 - jnp.log(self.scale) - 0.5 * jnp.log(2 * jnp.pi), axis=-1)

    def entropy(self) -> jax.Array:
        return jnp.sum(0.5 + 0.5 * jnp.log(2 * jnp.pi) + jnp.log(self.scale), axis=-1)


def default_mlp_init(scale: float = 0.05):
    return nn.initializers.uniform(scale=scale)


class Model(nn.Module):
    """Separate actor and critic MLPs (ReLU). ``discrete`` picks a categorical head, else a
    diagonal Gaussian head (softplus scale + 0.001)."""

    num_output_units: int
    num_hidden_units: int
    num_hidden_layers: int
    discrete: bool
    flatten_3d: bool = False
    min_std: float = 0.001

    @nn.compact
    def __call__(self, x: jax.Array, rng: jax.Array | None = None):
        x = x.astype(jnp.float32)
        if self.flatten_3d:  # (..., height, width, channels) -> (..., height * width * channels)
            x = x.reshape(x.shape[:-3] + (-1,))

        v = x
        for i in range(self.num_hidden_layers):
            v = nn.relu(nn.Dense(self.num_hidden_units, bias_init=default_mlp_init(),
                                 name=f"critic_fc_{i}")(v))
        value = nn.Dense(1, bias_init=default_mlp_init(), name="critic_out")(v)[..., 0]

        a = x
        for i in range(self.num_hidden_layers):
            a = nn.relu(nn.Dense(self.num_hidden_units, bias_init=default_mlp_init(),
                                 name=f"actor_fc_{i}")(a))
        if self.discrete:
            logits = nn.Dense(self.num_output_units, bias_init=default_mlp_init(), name="actor_logits")(a)
            return value, Categorical(logits)
        mu = nn.Dense(self.num_output_units, bias_init=default_mlp_init(), name="actor_mu")(a)
        raw = nn.Dense(self.num_output_units, bias_init=default_mlp_init(), name="actor_scale")(a)
        return value, DiagGaussian(mu, jax.nn.softplus(raw) + self.min_std)


def get_model_ready(rng: jax.Array, config):
    """Build the network for ``config.env_name`` and initialise its parameters."""
    env, env_params = gymnax.make(config.env_name, **(config.get("env_kwargs") or {}))
    space = env.action_space(env_params)
    discrete = hasattr(space, "n")
    net = config.network_config
    model = Model(num_output_units=int(space.n) if discrete else int(space.shape[0]),
                  num_hidden_units=int(net.num_hidden_units), num_hidden_layers=int(net.num_hidden_layers),
                  discrete=discrete, flatten_3d=bool(net.get("flatten_3d", False)))
    obs_shape = env.observation_space(env_params).shape
    params = model.init(rng, jnp.zeros((1, *obs_shape)), rng=rng)
    return model, params
