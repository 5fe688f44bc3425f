"""CPU quota detection: Gradescope's ½ vCPU is a cgroup quota that os.cpu_count() does not show."""

from grader.engine import cpus


def fake_tree(tmp_path, proc_line: str, files: dict[str, str]):
    root = tmp_path / "cgroup"
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_line)
    return root, proc


def test_a_v1_quota_on_an_ancestor_applies(tmp_path):
    root, proc = fake_tree(tmp_path, "4:memory:/x\n1:cpu,cpuacct:/docker/abc\n", {
        "cpu/docker/cpu.cfs_quota_us": "50000", "cpu/docker/cpu.cfs_period_us": "100000",
        "cpu/docker/abc/cpu.cfs_quota_us": "-1", "cpu/docker/abc/cpu.cfs_period_us": "100000",
    })
    assert cpus.cgroup_cpu_quota(root, proc) == 0.5


def test_a_v2_cpu_max_is_read_and_max_means_none(tmp_path):
    root, proc = fake_tree(tmp_path, "0::/\n", {"cpu.max": "150000 100000"})
    assert cpus.cgroup_cpu_quota(root, proc) == 1.5
    root, proc = fake_tree(tmp_path / "unlimited", "0::/\n", {"cpu.max": "max 100000"})
    assert cpus.cgroup_cpu_quota(root, proc) is None


def test_no_cgroup_information_means_no_quota(tmp_path):
    assert cpus.cgroup_cpu_quota(tmp_path / "none", tmp_path / "missing") is None


def test_half_a_cpu_means_one_thread(monkeypatch):
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: 0.5)
    monkeypatch.setattr(cpus, "affinity_cpus", lambda: 36)
    assert cpus.usable_cpus() == 0.5 and cpus.whole_cpus() == 1
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: None)
    assert cpus.whole_cpus() == 36
