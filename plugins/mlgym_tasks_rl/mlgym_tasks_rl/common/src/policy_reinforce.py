"""REINFORCE on vectorised gymnax environments: the policy-gradient loss -log pi(a|s) * A with
generalised advantage estimates A. The critic only provides the value estimates that GAE uses;
it is not trained, and there is no entropy bonus and no clipping.

``make_train(config, model)`` compiles the training program once; the returned
``train(rng, params)`` can then be called for every seed without compiling again.
Training runs in chunks of ``evaluate_every_epochs`` updates; after each chunk the mean return
of the episodes that finished during the chunk is logged.
An episode that reaches the time limit (truncated) is treated like one that terminated: no
bootstrapping from its last state.
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax


class Batch(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    done: jax.Array
    value: jax.Array
    log_prob: jax.Array


class Runner(NamedTuple):
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    rng: jax.Array
    episode_return: jax.Array


def strong_types(tree):
    """Drop JAX's weak types (reset states hold some), so that the jitted chunk compiles only once."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


def learning_rate_schedule(cfg, total_grad_steps: int):
    """Linear warm-up from 0 to ``lr_begin``, then linear from ``lr_begin`` to ``lr_end``."""
    warmup = int(float(cfg.get("lr_warmup", 0.0)) * total_grad_steps)
    decay = optax.linear_schedule(float(cfg.lr_begin), float(cfg.lr_end), max(1, total_grad_steps - warmup))
    if warmup == 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, float(cfg.lr_begin), warmup), decay], [warmup])


def gae(batch: Batch, last_value: jax.Array, gamma: float, lam: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates and value targets, computed backwards over time."""

    def step(carry, t):
        next_adv, next_value = carry
        not_done = 1.0 - t.done
        delta = t.reward + gamma * next_value * not_done - t.value
        adv = delta + gamma * lam * not_done * next_adv
        return (adv, t.value), adv

    _, adv = jax.lax.scan(step, (jnp.zeros_like(last_value), last_value), batch, reverse=True)
    return adv, adv + batch.value


def reinforce_loss(params, model, mb: Batch, adv: jax.Array, target: jax.Array, cfg):
    del target, cfg
    _, pi = model.apply(params, mb.obs, rng=None)
    loss = -(pi.log_prob(mb.action) * adv).mean()
    return loss, (loss,)


def make_train(config, model):
    """Compile-once REINFORCE for ``config`` (the ``train_config`` section) and ``model``."""
    cfg = config
    env, env_params = gymnax.make(cfg.env_name, **(cfg.get("env_kwargs") or {}))
    n_envs, n_steps = int(cfg.num_train_envs), int(cfg.n_steps)
    n_minibatch, n_epochs = int(cfg.n_minibatch), int(cfg.epoch_ppo)
    batch_size = n_envs * n_steps
    if batch_size % n_minibatch:
        raise ValueError(f"num_train_envs * n_steps ({batch_size}) must be divisible by n_minibatch ({n_minibatch})")
    chunk = max(1, int(cfg.evaluate_every_epochs))
    n_chunks = max(1, math.ceil(int(cfg.num_train_steps) / batch_size / chunk))
    total_grad_steps = n_chunks * chunk * n_epochs * n_minibatch
    tx = optax.chain(optax.clip_by_global_norm(float(cfg.max_grad_norm)),
                     optax.adam(learning_rate_schedule(cfg, total_grad_steps), eps=1e-5))
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    gamma, lam = float(cfg.gamma), float(cfg.gae_lambda)

    def env_step(runner: Runner, _):
        rng, k_act, k_env = jax.random.split(runner.rng, 3)
        value, pi = model.apply(runner.params, runner.obs, rng=k_act)
        action = pi.sample(seed=k_act)
        log_prob = pi.log_prob(action)
        obs, env_state, reward, terminated, truncated, _ = v_step(
            jax.random.split(k_env, n_envs), runner.env_state, action, env_params)
        done = jnp.logical_or(terminated, truncated).astype(jnp.float32)
        ep_ret = runner.episode_return + reward
        finished = (jnp.sum(ep_ret * done), jnp.sum(done), jnp.mean(ep_ret))
        step = Batch(runner.obs, action, reward, done, value, log_prob)
        runner = runner._replace(env_state=env_state, obs=obs, rng=rng, episode_return=ep_ret * (1.0 - done))
        return runner, (step, finished)

    def update(runner: Runner, _):
        runner, (batch, (ret_sum, ret_n, running)) = jax.lax.scan(env_step, runner, None, length=n_steps)
        last_value, _ = model.apply(runner.params, runner.obs, rng=None)
        adv, target = gae(batch, last_value, gamma, lam)

        def flat(x):
            return x.reshape((batch_size,) + x.shape[2:])

        data = (jax.tree.map(flat, batch), flat(adv), flat(target))

        def epoch(carry, _):
            params, opt_state, rng = carry
            rng, k = jax.random.split(rng)
            perm = jax.random.permutation(k, batch_size)
            shuffled = jax.tree.map(lambda x: x[perm].reshape((n_minibatch, -1) + x.shape[1:]), data)

            def minibatch(c, mb):
                p, o = c
                b, a, t = mb
                grads, _ = jax.grad(reinforce_loss, has_aux=True)(p, model, b, a, t, cfg)
                upd, o = tx.update(grads, o, p)
                return (optax.apply_updates(p, upd), o), None

            (params, opt_state), _ = jax.lax.scan(minibatch, (params, opt_state), shuffled)
            return (params, opt_state, rng), None

        (params, opt_state, rng), _ = jax.lax.scan(
            epoch, (runner.params, runner.opt_state, runner.rng), None, length=n_epochs)
        runner = runner._replace(params=params, opt_state=opt_state, rng=rng)
        return runner, (ret_sum.sum(), ret_n.sum(), running[-1])

    @jax.jit
    def run_chunk(runner: Runner):
        runner, (ret_sum, ret_n, running) = jax.lax.scan(update, runner, None, length=chunk)
        return runner, ret_sum.sum(), ret_n.sum(), running[-1]

    @jax.jit
    def start(rng, params):
        rng, k = jax.random.split(rng)
        obs, env_state = v_reset(jax.random.split(k, n_envs), env_params)
        env_state = strong_types(env_state)
        return Runner(params, tx.init(params), env_state, obs, rng, jnp.zeros(n_envs))

    def train(rng, params):
        runner = start(rng, params)
        log_steps, log_return = [], []
        t0 = time.time()
        for i in range(n_chunks):
            runner, ret_sum, ret_n, running = run_chunk(runner)
            ret_n = float(ret_n)
            # episodes finished during the chunk; if none did, the running return of unfinished ones
            last = float(ret_sum) / ret_n if ret_n > 0 else float(running)
            what = "mean episode return" if ret_n > 0 else "mean partial return"
            log_steps.append((i + 1) * chunk * batch_size)
            log_return.append(last)
            print(f"  steps {log_steps[-1]:>10d}  {what} {last:10.3f}  ({time.time() - t0:.0f} s)", flush=True)
        return np.array(log_steps), np.array(log_return), runner.params

    return train
