"""The settings of this homework's runs and the limits on your model. Provided: nothing to change here.

The grader trains and checks with the same values (it reads them from its own declaration of the homework, and its
tests check that the two agree).
"""

IMAGE_SIZE = 784  # 28 x 28 pixels, flattened
ITERATIONS = 10_000  # training iterations of run_vae.py with BETA (batches of 100)
BETA = 1.0  # the KL weight of the graded run: with 1, loss(x, beta) is the negative ELBO
BETA_ZERO_ITERATIONS = 2_000  # the graded run with beta = 0 (an autoencoder: its reconstructions are checked)
PARAMETER_BUDGET = 1_500_000  # numbers in your model's state_dict (weights, biases and buffers), at most
MAX_Z_DIM = 256  # latent dimensions, at most
STEP_TIME_FACTOR = 4.0  # a training iteration of your model may take at most this many times the reference's
FIGURE_COLUMNS = 16  # the figure: 16 test images, their 16 reconstructions and 16 new images
