#!/usr/bin/env bash
# Gradescope runs this once, as root, when the autograder image is built (Ubuntu 22.04 base).
set -euo pipefail
source_dir="${AUTOGRADER_ROOT:-/autograder}/source"
venv=/opt/vae-grader/venv

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Python 3.11 from Ubuntu's own archive, bubblewrap for the worker's sandbox.
apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv bubblewrap ca-certificates

# The unprivileged user that runs the student's code.
id -u vaegrader >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin vaegrader

python3.11 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# The CPU build of torch first, pinned: anything that admits another torch pulls several GB of CUDA.
"$venv/bin/pip" install --quiet --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 torchvision==0.28.0
"$venv/bin/pip" install --quiet -r "$source_dir/requirements.txt"
chmod -R a+rX /opt/vae-grader  # the sandboxed worker runs this interpreter as vaegrader

# The grader, the reference solution and the hidden checks: root only.
chown -R root:root "$source_dir"
chmod -R go-rwx "$source_dir"
