"""The Gradescope emulation's cgroup handling, on a fake cgroup tree (the real runs are make bench's)."""

import pytest

from grader.grading import cgroups
from grader.grading.cgroups import Hierarchy
from grader.instructor import bench_gradescope
from grader.instructor.bench_gradescope import Limits, Measurement, bench_cgroup, describe


@pytest.fixture
def as_root(monkeypatch):
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 0)


def v1_tree(tmp_path):
    for controller in ("cpu", "memory"):
        (tmp_path / controller).mkdir()
    return {name: Hierarchy(1, tmp_path / name, (name,)) for name in ("cpu", "memory")}


def test_v1_limits_are_written_and_the_peak_read(tmp_path, as_root):
    cgroup = bench_cgroup(Limits(cpus=0.5, memory_mb=768), v1_tree(tmp_path))
    memory, cpu = sorted(cgroup.folders, key=lambda folder: folder.parent.name != "memory")
    assert (cpu / "cpu.cfs_quota_us").read_text() == "50000" and (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (memory / "memory.limit_in_bytes").read_text() == str(768 * 2**20)
    (memory / "memory.max_usage_in_bytes").write_text(str(500 * 2**20))
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert cgroup.peak_bytes() == 500 * 2**20 and cgroup.oom_kills() == 0
    for folder in cgroup.folders:  # made by the kernel in a real hierarchy
        (folder / "cgroup.procs").write_text("")
    cgroup.enter()()
    assert (cpu / "cgroup.procs").read_text().isdigit()


def test_v2_limits_and_unlimited_cpu(tmp_path, as_root):
    (tmp_path / "cgroup.subtree_control").write_text("")
    place = {name: Hierarchy(2, tmp_path, ("cpu", "memory")) for name in ("cpu", "memory")}
    cgroup = bench_cgroup(Limits(memory_mb=768), place)
    (folder,) = cgroup.folders
    assert not (folder / "cpu.max").exists()  # no quota: the kernel's default, max
    assert (folder / "memory.max").read_text() == str(768 * 2**20)
    assert bench_gradescope.why_unavailable(place) in ("", "making cgroups needs root")


def test_a_missing_hierarchy_is_named(monkeypatch):
    monkeypatch.setattr(bench_gradescope.os, "geteuid", lambda: 0)
    assert "no cgroup hierarchy with the cpu and memory controller" in bench_gradescope.why_unavailable({})


def test_a_run_without_results_says_so():
    line = describe(Measurement("Gradescope", 610.0, 770.0, 3, None, None, None, None, -9))
    assert "no results.json" in line and "memory limit hit 3 times" in line
