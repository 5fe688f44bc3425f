"""The settings of this homework's model and run. Provided: nothing to change here.

The grader trains with the same values (it reads them from its own declaration of the homework, and its tests
check that the two agree).
"""

Z_DIM = 40  # latent dimensions
ITERATIONS = 20_000  # training iterations of run_vae.py, on the whole training set (60,000 images)
GRID_ROWS, GRID_COLUMNS = 10, 10  # the sample grid run_vae.py saves: 100 samples
