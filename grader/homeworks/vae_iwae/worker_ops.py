"""vae-iwae's worker operation: the student's VAE.negative_iwae_bound on the grader's weights, batch and noise.

The flagship's operations (sample_gaussian, kl_normal, negative_elbo_bound, train) serve this homework as they
are: the worker looks an operation up here first, then in grader/homeworks/vae/worker_ops.py, and
``worker.shared("build_model")`` reuses the flagship's helper. This file is copied next to the worker and imports
nothing from the grader.

While the bound runs, the other student functions it may call are the grader's (the bound's points depend on
the bound alone): ``utils.sample_gaussian`` draws the grader's noise, ``utils.kl_normal`` is the closed form and
``VAE.negative_elbo_bound`` the reference's bound. The noise does not depend on how the samples are laid out: the
j-th latent drawn for image b gets ``epsilon[j, b]`` whether the samples come as (iw * batch) rows copy after copy,
image after image, as an (iw, batch, z_dim) tensor or one call per sample. A row is told to be image b's by the
encoder mean it is nearest to (``qm`` of the batch, computed here).
"""

from contextlib import contextmanager

import torch


def grader_kl_normal(qm: torch.Tensor, qv: torch.Tensor, pm: torch.Tensor, pv: torch.Tensor) -> torch.Tensor:
    """KL(q || p) of diagonal Gaussians, summed over the last dimension (the closed form the handout gives)."""
    return 0.5 * (torch.log(pv) - torch.log(qv) + qv / pv + (qm - pm).pow(2) / pv - 1).sum(-1)


class ControlledNoise:
    """``sample_gaussian`` with the grader's noise: a latent's noise depends on its image and on how many latents of
    that image were drawn before it in this call of the bound, never on the layout of the samples."""

    def __init__(self, epsilon: torch.Tensor, qm: torch.Tensor, extra_seed: int) -> None:
        self.epsilon = epsilon  # (iw, batch, z_dim)
        self.qm = qm  # (batch, z_dim): the encoder's means of the batch, to tell which image a row belongs to
        self.extra = torch.Generator().manual_seed(extra_seed)  # for draws beyond the iw samples of an image
        self.drawn = torch.zeros(qm.shape[0], dtype=torch.long)  # latents drawn so far, per image
        self.calls: list[list[int]] = []

    def reset(self) -> None:
        self.drawn.zero_()
        self.extra.manual_seed(self.extra.initial_seed())

    def images_of(self, m: torch.Tensor) -> torch.Tensor | None:
        """For each row of m (..., z_dim), the image of the batch whose encoder mean is nearest; None for another
        last dimension."""
        z_dim = self.qm.shape[1]
        if m.dim() == 0 or m.shape[-1] != z_dim:
            return None
        rows = torch.Tensor.detach(m).as_subclass(torch.Tensor).reshape(-1, z_dim).to(self.qm.dtype)
        return torch.cdist(rows, self.qm).argmin(dim=1)  # (rows,)

    def noise(self, m: torch.Tensor) -> torch.Tensor:
        """Noise of m's shape and dtype: row j of image b gets epsilon[j, b] (j counts that image's rows so far)."""
        images = self.images_of(m)
        if images is None:
            return torch.randn(m.shape, generator=self.extra).to(m.dtype)
        drawn = []
        for image in images.tolist():
            drawn.append(int(self.drawn[image]))
            self.drawn[image] += 1
        index = torch.tensor(drawn, dtype=torch.long)  # (rows,)
        iw = self.epsilon.shape[0]
        noise = self.epsilon[index.clamp(max=iw - 1), images].clone()  # (rows, z_dim)
        beyond = index >= iw  # more latents for an image than the bound's iw samples: fresh noise for those
        if bool(beyond.any()):
            noise[beyond] = torch.randn((int(beyond.sum()), noise.shape[1]), generator=self.extra, dtype=noise.dtype)
        return noise.reshape(m.shape).to(m.dtype)

    def first_noise(self, m: torch.Tensor) -> torch.Tensor:
        """The first sample's noise of each row's image, drawing nothing (the grader's ELBO uses it)."""
        images = self.images_of(m)
        if images is None:
            return torch.randn(m.shape, generator=self.extra).to(m.dtype)
        return self.epsilon[0, images].reshape(m.shape).to(m.dtype)

    def sample_gaussian(self, m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.calls.append(list(m.shape))
        return m + torch.sqrt(v) * self.noise(m)


@contextmanager
def grader_helpers(utils: object, vae: object, noise: ControlledNoise, elbo_calls: list[int]):  # noqa: ANN201
    """Within the block, the student's helpers are the grader's: in utils, in vae's names for them, and the bound
    VAE.negative_elbo_bound (on the first sample's noise of each image, drawing nothing from ``noise``)."""
    student = {"sample_gaussian": utils.sample_gaussian, "kl_normal": utils.kl_normal}
    grader = {"sample_gaussian": noise.sample_gaussian, "kl_normal": grader_kl_normal}

    def negative_elbo_bound(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        elbo_calls.append(int(x.shape[0]))
        qm, qv = model.enc(x)  # (batch, z_dim) each
        kl = grader_kl_normal(qm, qv, model.z_prior_m, model.z_prior_v).mean()
        z = qm + torch.sqrt(qv) * noise.first_noise(qm)  # (batch, z_dim)
        rec = -utils.log_bernoulli_with_logits(x, model.dec(z)).mean()
        return kl + rec, kl, rec

    renamed = [(name, key) for name, value in vars(vae).items() for key in student if value is student[key]]
    student_elbo = vae.VAE.__dict__.get("negative_elbo_bound")
    for key, function in grader.items():
        setattr(utils, key, function)
    for name, key in renamed:
        setattr(vae, name, grader[key])
    vae.VAE.negative_elbo_bound = negative_elbo_bound
    try:
        yield
    finally:
        for key, function in student.items():
            setattr(utils, key, function)
        for name, key in renamed:
            setattr(vae, name, student[key])
        if student_elbo is None:
            del vae.VAE.negative_elbo_bound
        else:
            vae.VAE.negative_elbo_bound = student_elbo


def op_negative_iwae_bound(worker: object, request: dict) -> dict:
    """The bound with the grader's weights, batch and noise, called once per entry of ``calls`` (each an iw) on
    the same model: the first call's terms and gradients, the later calls' terms (a bound that keeps state)."""
    utils, vae = worker.module("utils"), worker.module("vae")
    model, missing_weights = worker.shared("build_model")(worker, request["z_dim"], request["weights"])
    x = torch.from_numpy(request["x"])  # (batch, 784)
    with torch.no_grad():
        qm, _ = model.enc(x)  # (batch, z_dim)
    noise = ControlledNoise(torch.from_numpy(request["epsilon"]), qm.detach().clone(), int(request["extra_seed"]))
    elbo_calls: list[int] = []
    outputs = []
    first_calls: list[list[int]] = []
    with grader_helpers(utils, vae, noise, elbo_calls):
        for iw in request["calls"]:
            noise.reset()
            outputs.append(model.negative_iwae_bound(x, int(iw)))
            if len(outputs) == 1:
                first_calls = list(noise.calls)
    first = outputs[0]
    result: dict = {"returned": worker.describe(first), "sample_gaussian_calls": first_calls[:1_000],
                    "missing_weights": missing_weights, "elbo_calls": len(elbo_calls)}
    result["repeated_terms"] = [[worker.describe(term) for term in again] if isinstance(again, tuple | list)
                                else [worker.describe(again)] for again in outputs[1:]]
    if isinstance(first, tuple | list) and len(first) == 3:
        result["terms"] = [worker.describe(term) for term in first]
        niwae = first[0]
        if isinstance(niwae, torch.Tensor) and niwae.requires_grad and niwae.numel() == 1:
            torch.Tensor.sum(niwae).backward()
            result["grads"] = {name: worker.array(p.grad) for name, p in model.named_parameters()
                               if p.grad is not None}
    return result
