"""The Gradescope emulation's cgroup handling, on a fake cgroup tree (the real runs are make bench's)."""

from grader import bench_gradescope
from grader.bench_gradescope import Cgroup, Limits, Measurement, describe


def v1_tree(tmp_path):
    for controller in ("cpu", "memory"):
        (tmp_path / controller).mkdir()
        (tmp_path / controller / "cgroup.procs").write_text("")
    return tmp_path


def test_v1_limits_are_written_and_the_peak_read(tmp_path):
    root = v1_tree(tmp_path)
    cgroup = Cgroup(Limits(cpus=0.5, memory_mb=768), root)
    cpu, memory = cgroup.folders
    assert (cpu / "cpu.cfs_quota_us").read_text() == "50000" and (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (memory / "memory.limit_in_bytes").read_text() == str(768 * 2**20)
    (memory / "memory.max_usage_in_bytes").write_text(str(500 * 2**20))
    (memory / "memory.failcnt").write_text("0")
    assert cgroup.peak_mb() == 500 and cgroup.oom_kills() == 0
    cgroup.enter()()
    assert (cpu / "cgroup.procs").read_text().isdigit()


def test_v2_limits_and_unlimited_cpu(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    cgroup = Cgroup(Limits(memory_mb=768), tmp_path)
    (folder,) = cgroup.folders
    assert (folder / "cpu.max").read_text() == "max 100000"
    assert (folder / "memory.max").read_text() == str(768 * 2**20)
    assert bench_gradescope.why_unavailable(tmp_path) in ("", "making cgroups needs root")


def test_a_missing_hierarchy_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_gradescope.os, "geteuid", lambda: 0)
    assert "no cgroup v1 cpu and memory hierarchy" in bench_gradescope.why_unavailable(tmp_path)


def test_a_run_without_results_says_so():
    line = describe(Measurement("Gradescope", 610.0, 770.0, 3, None, None, None, None, -9))
    assert "no results.json" in line and "memory limit hit 3 times" in line
