"""The benchmark's arithmetic and its table (the timings themselves are make bench's, never asserted)."""

from grader.__main__ import build_parser
from grader.instructor import bench, bench_gradescope
from grader.instructor.bench import Timing


def test_gemm_flops_count_forward_weight_and_input_gradients() -> None:
    forward = 2 * 100 * (784 * 300 + 300 * 300 + 300 * 20 + 10 * 300 + 300 * 300 + 300 * 784)  # 6 Linear layers
    encoder_input_gradient = 2 * 100 * 784 * 300
    assert bench.gemm_flops(include_encoder_input_grad=True) == 3 * forward
    assert bench.gemm_flops(include_encoder_input_grad=False) == 3 * forward - encoder_input_gradient


def test_table_gives_the_ratio_the_verdict_and_what_the_target_leaves() -> None:
    timings = {name: Timing(wall_ms=wall, cpu_ms=wall) for name, wall in {
        "floor": 2.0, "floor_all": 2.2, "floor_cold": 2.1, "floor_adam": 2.6, "train": 5.0, "before": 6.0,
        "dataloader": 7.0}.items()}
    lines = bench.format_thread_table(1, timings)
    train_line = next(line for line in lines if line.lstrip().startswith("train()"))
    assert "2.50" in train_line and train_line.endswith("MISS")
    assert any("allows 2.40 ms/iter" in line and "1.30x" in line and "-0.20 ms for the rest" in line for line in lines)
    passing = dict(timings, train=Timing(wall_ms=2.3, cpu_ms=2.3))
    assert next(line for line in bench.format_thread_table(1, passing) if "train()" in line).endswith("PASS")


def test_the_benchmarked_grading_command_is_one_the_grader_accepts(tmp_path):
    command = bench_gradescope.grading_command("cvae", tmp_path / "submission", tmp_path / "out", 2000, 1, 600)
    assert command[1:4] == ["-m", "grader", "grade"]
    args = build_parser().parse_args(command[3:])
    assert (args.homework, args.submission, args.out) == ("cvae", tmp_path / "submission", tmp_path / "out")
    assert (args.iterations, args.threads, args.time_limit) == (2000, 1, 600.0)


def test_without_iterations_the_benchmarked_grading_trains_each_run_as_declared(tmp_path):
    command = bench_gradescope.grading_command("beta-vae", tmp_path / "submission", tmp_path / "out", None, 0, 1200)
    assert "--iterations" not in command
    assert build_parser().parse_args(command[3:]).iterations is None  # a beta = 0 run keeps its own 2,000
