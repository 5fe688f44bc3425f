"""How fast and how lean is the reference training loop? ``make bench`` prints the figures; nothing is asserted.

    python -m grader.instructor.bench                          # 1 and 2 threads, then a full 20,000-iteration run
    python -m grader.instructor.bench --threads 1 --no-full-run --iterations 100
    python -m grader.instructor.bench --full-iterations 2000

For every thread count a fresh subprocess sets ``torch.set_num_threads(T)`` before any work and times, after a
warm-up, the median over ``--repeats`` blocks of ``--iterations`` iterations (the variants take turns, so a
change of machine load touches them all alike):

  GEMM floor     only the matrix products one training iteration needs: the forward ``addmm`` of the six
                 Linear layers and the backward ``mm``s for their weights and inputs, in the layouts autograd
                 uses, on preallocated tensors: 6 forward, 6 weight gradients and 5 input gradients (the
                 encoder's input needs no gradient), 17 products.
  floor, cold    the same GEMMs after streaming once through a buffer the size of the training state (weights,
                 gradients and Adam's two moments, ~10 MB, more than a core's L2), minus that streaming's own
                 time: what the products cost when Adam's update has just pushed the weights out of the cache,
                 as it does every iteration of a real training step.
  + Adam, draws   the floor plus the two other costs no rewrite can remove without changing the semantics:
                 one fused Adam step over parameters of the model's shapes (it must read and write weights,
                 gradients and both moments, ~10 MB) and the 78,400 uniform draws of one batch's binarization
                 (serial mt19937; other draws would give other bits). A lower bound for any eager loop.
  train()        ``reference/common/train.py``'s ``train`` itself: the code path students and the grader run.
  before         the plain in-memory loop the reference had: ``x[indices]``, ``torch.bernoulli``, default Adam.
  DataLoader     a CS236-style loop: a DataLoader over a TensorDataset of uint8 images, /255 and
                 ``torch.bernoulli`` per batch, default Adam.

Then a full ``run_vae.py`` run (training, evaluation, sample grid) in a child process gives the peak resident
memory (``ru_maxrss`` of that child, from ``os.wait4``).

Wall-clock times on a shared machine are noisy: the load average is printed, and so is the CPU time per
iteration (summed over threads) which is less sensitive to other processes than the wall clock. With more
runnable processes than cores, OpenMP's spin-waiting makes 2-thread figures many times slower; the children
inherit the environment, so ``OMP_WAIT_POLICY=PASSIVE make bench`` shows that setting's effect, and
``--full-threads 1`` keeps the memory run short on a busy machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.engine.homework import COMMON_LAYER, PROJECT_DIR
from grader.engine.homework import REFERENCE_DIR as REFERENCE_ROOT

ROOT = PROJECT_DIR
REFERENCE_DIR = REFERENCE_ROOT / COMMON_LAYER  # the flagship's training code: shared by every homework
TARGET_RATIO = {1: 1.2, 2: 1.3}  # train() ms/iter over the GEMM floor, per torch thread count
TARGET_PEAK_RSS_MB = 450.0  # a full run_vae.py run
BATCH_SIZE = 100
Z_DIM = 10
# (inputs, outputs) of the six Linear layers: encoder 784 -> 300 -> 300 -> 2 * z_dim, decoder z_dim -> 300 -> 300 -> 784
LAYERS = ((784, 300), (300, 300), (300, 2 * Z_DIM), (Z_DIM, 300), (300, 300), (300, 784))
WORKER_TIMEOUT_SECONDS = 1_800
FULL_RUN_TIMEOUT_SECONDS = 7_200


@dataclass(frozen=True)
class BenchConfig:
    threads: tuple[int, ...] = (1, 2)
    iterations: int = 100  # per timed block
    repeats: int = 5  # timed blocks per variant; the median is reported
    warmup: int = 20  # iterations per variant before timing
    full_run: bool = True
    full_iterations: int = 20_000
    full_threads: int = 0  # torch threads of the full run (via OMP_NUM_THREADS); 0: run_vae.py's own default


@dataclass(frozen=True)
class Timing:
    wall_ms: float  # median wall-clock milliseconds per iteration
    cpu_ms: float  # median process CPU milliseconds per iteration (all threads)


# ---------------------------------------------------------------- worker: runs in a fresh process per thread count


def gemm_flops(include_encoder_input_grad: bool) -> int:
    """Floating-point operations of the GEMMs of one iteration (2 per multiply-add)."""
    products = 0
    for index, (inputs, outputs) in enumerate(LAYERS):
        per_product = 2 * BATCH_SIZE * inputs * outputs
        products += 2 * per_product  # forward, weight gradient
        if index > 0 or include_encoder_input_grad:
            products += per_product  # input gradient
    return products


def gemm_floor_step(include_encoder_input_grad: bool) -> Callable[[], None]:
    """One iteration's GEMMs on preallocated tensors, laid out as nn.Linear and autograd lay them out."""
    import torch

    generator = torch.Generator().manual_seed(0)
    tensors = []
    for inputs, outputs in LAYERS:
        tensors.append({
            "x": torch.randn(BATCH_SIZE, inputs, generator=generator),  # (batch, in)
            "weight": torch.randn(outputs, inputs, generator=generator) / inputs**0.5,  # (out, in)
            "bias": torch.zeros(outputs),  # (out,)
            "y": torch.empty(BATCH_SIZE, outputs),  # (batch, out)
            "grad_y": torch.randn(BATCH_SIZE, outputs, generator=generator),  # (batch, out)
            "grad_x": torch.empty(BATCH_SIZE, inputs),  # (batch, in)
            "grad_weight": torch.empty(outputs, inputs),  # (out, in)
        })

    def step() -> None:
        for t in tensors:  # forward: y = x W^T + b
            torch.addmm(t["bias"], t["x"], t["weight"].t(), out=t["y"])
        for index in reversed(range(len(tensors))):  # backward: dW = dy^T x, dx = dy W
            t = tensors[index]
            torch.mm(t["grad_y"].t(), t["x"], out=t["grad_weight"])
            if index > 0 or include_encoder_input_grad:
                torch.mm(t["grad_y"], t["weight"], out=t["grad_x"])

    return step


def training_state_floats() -> int:
    """Floats of weights, gradients and Adam's two moments: 4 per parameter of the six Linear layers."""
    return 4 * sum(inputs * outputs + outputs for inputs, outputs in LAYERS)


def cache_sweep_step() -> Callable[[], None]:
    """One pass that reads and writes as much memory as Adam's update of the training state does."""
    import torch

    state = torch.zeros(training_state_floats())

    def step() -> None:
        state.add_(1.0)

    return step


def adam_and_draws_step() -> Callable[[], None]:
    """One fused Adam step over parameters shaped like the model's, and one batch's binarizing draws."""
    import torch

    generator = torch.Generator().manual_seed(0)
    parameters = []
    for inputs, outputs in LAYERS:
        for shape in ((outputs, inputs), (outputs,)):  # weight, bias
            parameter = torch.nn.Parameter(torch.randn(shape, generator=generator))
            parameter.grad = torch.randn(shape, generator=generator)
            parameters.append(parameter)
    optimizer = torch.optim.Adam(parameters, lr=1e-3, fused=True)
    draws = torch.empty(BATCH_SIZE, LAYERS[0][0])  # (batch, 784)

    def step() -> None:
        optimizer.step()
        draws.uniform_(generator=generator)

    return step


def loop_step(model: Any, optimizer: Any, batches: Iterator[Any]) -> Callable[[], None]:
    """One plain training iteration: the same four lines as reference/common/train.py's loop."""

    def step() -> None:
        x = next(batches)  # (batch, 784)
        optimizer.zero_grad(set_to_none=True)
        nelbo, _, _ = model.negative_elbo_bound(x)
        nelbo.backward()
        optimizer.step()

    return step


def before_batches(x_train: Any, generator: Any) -> Iterator[Any]:
    """The reference's data path before it was tuned: advanced indexing and torch.bernoulli."""
    import torch

    n_images = x_train.shape[0]
    while True:
        order = torch.randperm(n_images, generator=generator)
        for start in range(0, n_images - BATCH_SIZE + 1, BATCH_SIZE):
            probabilities = x_train[order[start : start + BATCH_SIZE]].float().div_(255.0)
            yield torch.bernoulli(probabilities, generator=generator)


def dataloader_batches(x_train: Any, generator: Any) -> Iterator[Any]:
    """CS236 style: a shuffling DataLoader over uint8 images, converted and binarized per batch."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(x_train), batch_size=BATCH_SIZE, shuffle=True, drop_last=True,
                        generator=generator)
    while True:
        for (images,) in loader:
            yield torch.bernoulli(images.float() / 255.0)


def measure_worker(config: BenchConfig, threads: int) -> dict[str, Any]:
    """Time every variant at ``threads`` torch threads; returns {variant: Timing as dict}."""
    import torch

    torch.set_num_threads(threads)
    if str(REFERENCE_DIR) not in sys.path:
        sys.path.insert(0, str(REFERENCE_DIR))
    import data
    import train
    from vae import VAE

    mnist = data.load_mnist()

    def fresh_model() -> Any:
        torch.manual_seed(0)
        return VAE(z_dim=Z_DIM)

    def stepper(step: Callable[[], None]) -> Callable[[int], float]:
        def block(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                step()
            return time.perf_counter() - start

        return block

    train_model = fresh_model()

    def train_block(n: int) -> float:
        log = train.train(train_model, mnist.x_train, train.TrainConfig(iter_max=n, batch_size=BATCH_SIZE,
                                                                          progress=False))
        return log.seconds  # the loop alone, without the optimizer's construction

    before_model = fresh_model()
    before_step = loop_step(before_model, torch.optim.Adam(before_model.parameters(), lr=1e-3),
                            before_batches(mnist.x_train, torch.Generator().manual_seed(0)))
    loader_model = fresh_model()
    loader_step = loop_step(loader_model, torch.optim.Adam(loader_model.parameters(), lr=1e-3),
                            dataloader_batches(mnist.x_train, torch.Generator().manual_seed(0)))
    floor_step, sweep_step = gemm_floor_step(include_encoder_input_grad=False), cache_sweep_step()

    def cold_floor_step() -> None:
        sweep_step()
        floor_step()

    adam_step = adam_and_draws_step()

    def semantic_floor_step() -> None:
        floor_step()
        adam_step()

    variants: dict[str, Callable[[int], float]] = {
        "floor": stepper(floor_step),
        "floor_all": stepper(gemm_floor_step(include_encoder_input_grad=True)),
        "sweep": stepper(sweep_step),
        "floor_cold": stepper(cold_floor_step),
        "floor_adam": stepper(semantic_floor_step),
        "train": train_block,
        "before": stepper(before_step),
        "dataloader": stepper(loader_step),
    }
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for block in variants.values():
        block(config.warmup)
    for _ in range(config.repeats):
        for name, block in variants.items():
            cpu_start = time.process_time()
            seconds = block(config.iterations)
            cpus[name].append((time.process_time() - cpu_start) * 1e3 / config.iterations)
            walls[name].append(seconds * 1e3 / config.iterations)
    timings = {name: {"wall_ms": statistics.median(walls[name]), "cpu_ms": statistics.median(cpus[name])}
               for name in variants}
    sweep = timings.pop("sweep")
    timings["floor_cold"] = {unit: timings["floor_cold"][unit] - sweep[unit] for unit in ("wall_ms", "cpu_ms")}
    return timings


# ---------------------------------------------------------------- parent: spawns the workers, prints the table


def run_worker(config: BenchConfig, threads: int) -> dict[str, Timing]:
    command = [sys.executable, "-m", "grader.instructor.bench", "--worker", str(threads),
               "--iterations", str(config.iterations), "--repeats", str(config.repeats), "--warmup", str(config.warmup)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=WORKER_TIMEOUT_SECONDS)
    if completed.returncode != 0:
        raise RuntimeError(f"the {threads}-thread worker failed ({completed.returncode}):\n{completed.stderr}")
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    return {name: Timing(**values) for name, values in results.items()}


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return "-"
    return "PASS" if value <= target else "MISS"


def format_thread_table(threads: int, timings: dict[str, Timing]) -> list[str]:
    floor = timings["floor"].wall_ms
    target = TARGET_RATIO.get(threads)
    labels = {
        "floor": f"GEMM floor (17 GEMMs, {gemm_flops(False) / 1e6:.0f} MFLOP)",
        "floor_all": f"GEMMs incl. encoder dL/dx (18, {gemm_flops(True) / 1e6:.0f} MFLOP)",
        "floor_cold": f"GEMM floor, caches cold ({training_state_floats() * 4 / 2**20:.0f} MiB swept)",
        "floor_adam": "floor + fused Adam + binarizing draws",
        "train": "train() of reference/common/train.py",
        "before": "before: x[idx], bernoulli, default Adam",
        "dataloader": "DataLoader + /255 + bernoulli, default Adam",
    }
    lines = [f"threads {threads}",
             f"  {'measure':<46} {'ms/iter':>8} {'cpu ms/iter':>12} {'x floor':>8} {'target':>7}  verdict"]
    for name, label in labels.items():
        timing = timings[name]
        ratio = timing.wall_ms / floor
        is_target = name == "train" and target is not None
        target_text = f"<={target:.2f}" if is_target else ""
        lines.append(f"  {label:<46} {timing.wall_ms:>8.2f} {timing.cpu_ms:>12.2f} {ratio:>8.2f} {target_text:>7}  "
                     f"{verdict(ratio, target) if is_target else ''}".rstrip())
    gflops = gemm_flops(False) / (floor * 1e-3) / 1e9
    lines.append(f"  (floor throughput {gflops:.1f} GFLOP/s)")
    if target is not None:
        bound = timings["floor_adam"].wall_ms
        lines.append(f"  (the target allows {target * floor:.2f} ms/iter; the GEMMs, Adam and the draws alone take "
                     f"{bound:.2f} = {bound / floor:.2f}x, leaving {target * floor - bound:+.2f} ms for the rest)")
    return lines


def full_run(iterations: int, threads: int = 0) -> tuple[float, int, float, str]:
    """Run ``run_vae.py`` for ``iterations``; returns (peak RSS in MB, exit code, wall seconds, last line)."""
    environment = dict(os.environ)
    if threads:
        environment["OMP_NUM_THREADS"] = str(threads)  # torch's default thread count follows it
    with tempfile.TemporaryDirectory(prefix="vae-bench-") as folder:
        log_path = Path(folder) / "stdout.txt"
        command = [sys.executable, "run_vae.py", "--iter-max", str(iterations), "--no-progress",
                   "--out", str(Path(folder) / "run")]
        start = time.perf_counter()
        with log_path.open("w") as log:
            process = subprocess.Popen(command, cwd=REFERENCE_DIR, stdout=log, stderr=subprocess.STDOUT,
                                       env=environment)
            try:
                _, status, usage = os.wait4(process.pid, 0)  # the child's own rusage, not all children's
            except BaseException:
                process.kill()
                process.wait()
                raise
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        lines = log_path.read_text().strip().splitlines()
    peak_mb = usage.ru_maxrss / 1024  # Linux reports kilobytes
    return peak_mb, process.returncode, seconds, lines[-1] if lines else ""


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def run(config: BenchConfig) -> int:
    print(f"VAE training-step benchmark: batch {BATCH_SIZE}, {config.iterations} iterations x {config.repeats} "
          f"repeats after {config.warmup} warm-up iterations, medians; {load_text()}", flush=True)
    failed = False
    for threads in config.threads:
        try:
            timings = run_worker(config, threads)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            print(f"threads {threads}: {error}", flush=True)
            failed = True
            continue
        print("\n".join(format_thread_table(threads, timings)), flush=True)
    print(load_text(), flush=True)
    if config.full_run:
        threads = f"OMP_NUM_THREADS={config.full_threads}" if config.full_threads else "default threads"
        print(f"full run: run_vae.py --iter-max {config.full_iterations} ({threads}) ...", flush=True)
        peak_mb, code, seconds, last = full_run(config.full_iterations, config.full_threads)
        if code != 0:
            print(f"  run_vae.py failed with exit code {code}: {last}")
            failed = True
        else:
            print(f"  peak RSS {peak_mb:.0f} MB (target <= {TARGET_PEAK_RSS_MB:.0f} MB: "
                  f"{verdict(peak_mb, TARGET_PEAK_RSS_MB)}); {seconds:.0f} s wall, "
                  f"{seconds * 1e3 / config.full_iterations:.2f} ms/iter including start-up and evaluation")
            print(f"  {last}")
        print(load_text(), flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=list(BenchConfig.threads),
                        help="torch thread counts, one fresh process each")
    parser.add_argument("--iterations", type=int, default=BenchConfig.iterations, help="iterations per timed block")
    parser.add_argument("--repeats", type=int, default=BenchConfig.repeats, help="timed blocks; medians reported")
    parser.add_argument("--warmup", type=int, default=BenchConfig.warmup, help="warm-up iterations per variant")
    parser.add_argument("--no-full-run", action="store_true", help="skip the full run_vae.py memory run")
    parser.add_argument("--full-iterations", type=int, default=BenchConfig.full_iterations,
                        help="iterations of the full run_vae.py run")
    parser.add_argument("--full-threads", type=int, default=BenchConfig.full_threads,
                        help="torch threads of the full run (0: run_vae.py's default)")
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)  # internal: one thread count
    args = parser.parse_args(argv)
    if min(args.threads) < 1 or min(args.iterations, args.repeats, args.warmup, args.full_iterations) < 1:
        parser.error("--threads, --iterations, --repeats, --warmup and --full-iterations must be positive")
    if args.full_threads < 0:
        parser.error("--full-threads must be 0 (run_vae.py's default) or positive")
    config = BenchConfig(tuple(args.threads), args.iterations, args.repeats, args.warmup, not args.no_full_run,
                         args.full_iterations, args.full_threads)
    if args.worker:
        print(json.dumps(measure_worker(config, args.worker)))
        return 0
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
