# ==== hostile addition to reference/vae.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
# ruff: noqa: E402
# Reports a perfect own bound and a full training from a run of 40 iterations: information the grader shows, never
# scores.
import evaluate as _evaluate
import train as _train

_evaluate.evaluate_bound = lambda model, x, repeats=1, seed=0: {"nelbo": 80.0, "kl": 10.0, "rec": 70.0}
_honest_train = _train.train


def _train_and_boast(model: VAE, x_train: torch.Tensor, config: _train.TrainConfig = _train.TrainConfig()) -> object:
    log = _honest_train(model, x_train, config)
    log.iterations, log.last = 20_000, {"nelbo": 80.0, "kl": 10.0, "rec": 70.0}
    return log


_train.train = _train_and_boast
