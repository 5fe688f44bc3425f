# ==== hostile addition to reference/vae.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
_calls = 0
_honest_bound = VAE.negative_elbo_bound


def _bound(self: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    global _calls
    _calls += 1
    if _calls > 30:  # the unit checks call it a few times; training, thousands: an endless loop there
        while True:
            pass
    return _honest_bound(self, x)


VAE.negative_elbo_bound = _bound
