"""The settings of this homework's models and runs. Provided: nothing to change here.

The grader trains with the same values (it reads them from its own declaration of the homework, and its tests
check that the two agree).
"""

Z_DIM = 10  # latent dimensions, for both parts
ITERATIONS = 20_000  # training iterations of each part's run
GRID_ROWS, GRID_COLUMNS = 10, 10  # each part's sample grid: 100 samples
# The smallest variance the Gaussian decoder can give a pixel. Dequantized pixels vary by at most 1/256 around a
# constant background (variance about 1.3e-6); without a floor the decoder shrinks the background's variance
# towards that and the bound runs off to very negative values, driven by the background alone.
PIXEL_VARIANCE_FLOOR = 1e-3  # a standard deviation of at least 0.032
