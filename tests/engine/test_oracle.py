"""The reference is imported in a private namespace per homework: its modules never leak into sys.modules, and two
homeworks' modules of the same name are different modules from their own layers."""

import sys
from pathlib import Path

from grader.engine.oracle import reference
from tests.conftest import FLAGSHIP, HOMEWORKS


def test_a_homeworks_modules_come_from_its_layers_and_leave_sys_modules_alone():
    before = {name: sys.modules.get(name) for name in ("utils", "vae", "hyperparameters")}
    ref = reference(FLAGSHIP)
    assert ref.vae.ut is ref.utils and ref.run_vae.VAE is ref.vae.VAE  # they imported each other
    assert Path(ref.utils.__file__).parent in {layer.resolve() for layer in FLAGSHIP.reference_layers}
    assert {name: sys.modules.get(name) for name in before} == before


def test_homeworks_with_modules_of_the_same_name_get_their_own():
    derived = next(homework for homework in HOMEWORKS if homework.bases)
    ours, theirs = reference(FLAGSHIP), reference(derived)
    assert ours.hyperparameters is not theirs.hyperparameters
    assert ours.hyperparameters.Z_DIM == FLAGSHIP.training().arguments["z_dim"]
    assert theirs.hyperparameters.Z_DIM == derived.training().arguments["z_dim"]
    assert theirs.vae.DEFAULT_Z_DIM == theirs.hyperparameters.Z_DIM != ours.vae.DEFAULT_Z_DIM
