"""beta-vae's declaration agrees with the limits and runs its handout states (hyperparameters.py), and the worker
sees the training images alone."""

from grader.engine.oracle import reference
from tests.homeworks.beta_vae.conftest import BETA_VAE


def test_the_handout_states_the_limits_the_grader_enforces():
    settings = reference(BETA_VAE).hyperparameters
    assert settings.PARAMETER_BUDGET == BETA_VAE.settings["parameter_budget"]
    assert settings.STEP_TIME_FACTOR == BETA_VAE.settings["step_time_factor"]
    assert settings.FIGURE_COLUMNS == BETA_VAE.settings["figure_columns"]
    assert settings.MAX_Z_DIM == BETA_VAE.settings["max_z_dim"]
    assert (settings.BETA, settings.ITERATIONS) == (BETA_VAE.training().arguments["beta"],
                                                    BETA_VAE.training().iterations)
    zero = BETA_VAE.training("beta_zero")
    assert (zero.arguments["beta"], zero.iterations) == (0.0, settings.BETA_ZERO_ITERATIONS)


def test_the_worker_reads_no_test_image():
    assert BETA_VAE.worker_arrays == {"mnist.npz": ("x_train",)}
