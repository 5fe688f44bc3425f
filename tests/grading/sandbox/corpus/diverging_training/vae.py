# ==== hostile addition to reference/vae.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# An honest bound whose training diverges: from the 21st call on the same model the loss is NaN (the unit checks
# use a fresh model for each call, so they never see it).
_honest_bound = VAE.negative_elbo_bound


def _diverging_bound(self: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    nelbo, kl, rec = _honest_bound(self, x)
    self.calls = getattr(self, "calls", 0) + 1
    if self.calls > 20:
        nelbo = nelbo * torch.sqrt(nelbo - nelbo - 1)  # NaN, and NaN gradients: the weights become NaN
    return nelbo, kl, rec


VAE.negative_elbo_bound = _diverging_bound
