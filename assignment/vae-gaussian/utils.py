"""Probability helpers for the VAE homework.

Conventions used throughout: a diagonal Gaussian is given by its mean ``m`` and its *variance* ``v``
(not the standard deviation), both of shape ``(..., dim)``; every log-density and KL divergence is
summed over the last dimension, so it has the shape of its input without that dimension.
"""

import math

import torch
from torch.nn import functional as F

VARIANCE_FLOOR = 1e-8  # added to softplus outputs so that a variance is never exactly 0
LOG_2PI = math.log(2 * math.pi)


def sample_gaussian(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Draw z ~ N(m, diag(v)) with the reparameterization trick.

    Args:
        m: mean, shape (..., dim).
        v: variance (not standard deviation), same shape as ``m``.

    Returns:
        z: a sample, same shape and dtype as ``m``, differentiable with respect to ``m`` and ``v``.
    """
    # TODO: Reparameterization trick: z = m + sqrt(v) * eps with eps ~ N(0, I) of m's shape.
    #       The randomness must live in eps only, so that gradients flow to m and v.
    #       Hint: torch.randn_like; remember v is a variance.
    raise NotImplementedError("sample_gaussian: not implemented yet — see the TODO above")


def log_normal(x: torch.Tensor, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Log-density of x under N(m, diag(v)), summed over the last dimension.

    Shapes: x, m, v broadcast to (..., dim); returns (...).
    """
    # TODO: log N(x; m, v) = -1/2 (log(2 pi) + log v + (x - m)^2 / v) for each coordinate (v is a variance),
    #       then the sum over the last dimension. LOG_2PI is defined above.
    raise NotImplementedError("log_normal: not implemented yet — see the TODO above")


def kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    """KL(q || p) between diagonal Gaussians q = N(qm, qv) and p = N(pm, pv), summed over the last dim.

    Args:
        qm, qv: mean and variance of q, shape (..., dim).
        pm, pv: mean and variance of p, broadcastable to (..., dim): a prior of shape (1,) or (dim,)
            is shared by every row.

    Returns:
        kl: shape (...), one divergence per row.
    """
    # TODO: Closed form per dimension:
    #           0.5 * (log(pv) - log(qv) + qv / pv + (qm - pm)^2 / pv - 1)
    #       then sum over the last dimension only (not over the batch).
    raise NotImplementedError("kl_normal: not implemented yet — see the TODO above")


def log_bernoulli_with_logits(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x) for x in {0, 1} under Bernoulli(sigmoid(logits)), summed over the last dimension.

    Computed from the logits (never from probabilities) so that it stays finite for large |logits|.
    Shapes: x and logits (..., dim); returns (...).
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def gaussian_parameters(h: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a network output in half along ``dim`` into a mean and a positive variance.

    Shapes: h (..., 2 * z_dim) -> m, v each (..., z_dim); v = softplus(.) + VARIANCE_FLOOR.
    """
    m, h_variance = torch.split(h, h.size(dim) // 2, dim=dim)
    v = F.softplus(h_variance) + VARIANCE_FLOOR
    return m, v


def log_mean_exp(x: torch.Tensor, dim: int) -> torch.Tensor:
    """log(mean(exp(x), dim)) computed stably with logsumexp."""
    return torch.logsumexp(x, dim) - math.log(x.size(dim))


def duplicate(x: torch.Tensor, rep: int) -> torch.Tensor:
    """Repeat a batch ``rep`` times along the first dimension: (batch, ...) -> (rep * batch, ...).

    The copies are stacked block after block: rows [k * batch, (k + 1) * batch) are copy k.
    """
    return x.expand(rep, *x.shape).reshape(-1, *x.shape[1:])
