"""The settings of this homework's model and run. Provided: nothing to change here.

The grader trains with the same values (it reads them from its own declaration of the homework, and its tests
check that the two agree).
"""

Z_DIM = 10  # latent dimensions
NUM_CLASSES = 10  # the digits 0-9: the label y is one of them
ITERATIONS = 20_000  # training iterations of run_vae.py
GRID_ROWS, GRID_COLUMNS = 10, 10  # the grid run_vae.py saves: row y holds GRID_COLUMNS samples drawn for label y
