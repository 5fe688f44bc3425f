"""The worker's stand-ins for the student functions another one calls: the reference's formulas (the worker cannot
import the reference), swapped in for the duration of one function's checks and restored afterwards."""

import sys
from collections.abc import Callable
from types import ModuleType

import pytest
import torch

from grader.engine.oracle import reference
from grader.homeworks.vae import worker_ops
from tests.conftest import FLAGSHIP

REFERENCE = reference(FLAGSHIP).utils


def stub(*_: object) -> torch.Tensor:
    raise NotImplementedError("a student's stub")


class FakeWorker:
    def __init__(self, **modules: ModuleType) -> None:
        self.modules = modules

    def module(self, name: str) -> ModuleType:
        return self.modules[name]


@pytest.fixture(autouse=True)
def imported(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make the fake student modules the imported ones (the worker's sys.modules), for one test."""

    def install(*modules: ModuleType) -> None:
        for module in modules:
            monkeypatch.setitem(sys.modules, module.__name__, module)

    return install


def student_modules(install: Callable[..., None], with_kl: bool = True) -> tuple[ModuleType, ModuleType]:
    utils, vae = ModuleType("utils"), ModuleType("vae")
    utils.sample_gaussian = stub
    if with_kl:
        utils.kl_normal = stub
        vae.kl_normal = utils.kl_normal  # from utils import kl_normal
    vae.ut = utils
    install(utils, vae)
    return utils, vae


def test_the_substitute_kl_normal_is_the_reference_in_values_and_gradients():
    generator = torch.Generator().manual_seed(0)
    qm, pm = torch.randn(6, 5, generator=generator), torch.randn(5, generator=generator)
    qv, pv = torch.rand(6, 5, generator=generator) + 0.1, torch.rand(5, generator=generator) + 0.1
    values, gradients = [], []
    for kl_normal in (worker_ops.reference_kl_normal, REFERENCE.kl_normal):
        leaves = [qm.clone().requires_grad_(), qv.clone().requires_grad_()]
        kl = kl_normal(*leaves, pm, pv)
        kl.sum().backward()
        values.append(kl.detach())
        gradients.append([leaf.grad for leaf in leaves])
    assert torch.equal(values[0], values[1])
    assert all(torch.equal(a, b) for a, b in zip(*gradients, strict=True))


def test_the_substitute_sample_gaussian_is_the_reference_on_the_same_generator_state():
    m, v = torch.randn(7, 3, dtype=torch.float64), torch.rand(7, 3, dtype=torch.float64) + 0.1
    draws = []
    for sample in (worker_ops.reference_sample_gaussian, REFERENCE.sample_gaussian):
        torch.manual_seed(11)
        draws.append(sample(m, v))
    assert torch.equal(draws[0], draws[1]) and draws[0].dtype == torch.float64


def test_during_one_functions_checks_the_others_are_the_references_then_restored(imported):
    utils, vae = student_modules(imported)
    worker = FakeWorker(utils=utils, vae=vae)
    with worker_ops.isolated(worker, "negative_elbo_bound"):
        assert utils.kl_normal is worker_ops.reference_kl_normal and vae.kl_normal is worker_ops.reference_kl_normal
        assert vae.ut.sample_gaussian is worker_ops.reference_sample_gaussian
    assert utils.kl_normal is stub and vae.kl_normal is stub and utils.sample_gaussian is stub


def test_the_function_under_check_is_never_replaced_and_an_override_wins(imported):
    utils, vae = student_modules(imported)
    fixed = lambda m, v: m  # noqa: E731
    with worker_ops.isolated(FakeWorker(utils=utils, vae=vae), "kl_normal", {"sample_gaussian": fixed}):
        assert utils.kl_normal is stub and utils.sample_gaussian is fixed
    assert utils.sample_gaussian is stub


def test_a_deleted_helper_is_provided_for_the_call_and_removed_afterwards(imported):
    utils, vae = student_modules(imported, with_kl=False)
    with worker_ops.isolated(FakeWorker(utils=utils, vae=vae), "negative_elbo_bound"):
        assert utils.kl_normal is worker_ops.reference_kl_normal
    assert not hasattr(utils, "kl_normal")


def test_the_originals_come_back_when_the_students_code_raises(imported):
    utils, vae = student_modules(imported)
    with pytest.raises(ZeroDivisionError), worker_ops.isolated(FakeWorker(utils=utils, vae=vae), "sample_gaussian"):
        raise ZeroDivisionError
    assert utils.kl_normal is stub and vae.kl_normal is stub


def test_a_function_of_the_bounds_own_module_is_its_code_and_stays(imported):
    utils, vae = student_modules(imported)

    def kl_normal(*_: object) -> torch.Tensor:  # the student's own copy in vae.py: part of the bound
        return torch.zeros(1)

    vae.kl_normal = kl_normal
    with worker_ops.isolated(FakeWorker(utils=utils, vae=vae), "negative_elbo_bound"):
        assert vae.kl_normal is kl_normal and utils.kl_normal is worker_ops.reference_kl_normal


def test_a_student_module_that_was_not_imported_is_left_alone(imported):
    utils, vae = student_modules(imported)
    del sys.modules["vae"]  # vae.py failed to import: the sample's checks must not import it again
    with worker_ops.isolated(FakeWorker(utils=utils), "sample_gaussian"):
        assert utils.kl_normal is worker_ops.reference_kl_normal and vae.kl_normal is stub
