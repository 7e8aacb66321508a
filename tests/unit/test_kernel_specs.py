"""`clusterlab kernel install|list|remove` and cl.kernels, run in-process as a user would
type them, into a private JUPYTER_DATA_DIR (no cluster is contacted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.ui.cli import main


@pytest.fixture(autouse=True)
def jupyter_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "jupyter"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    monkeypatch.setenv("JUPYTER_PATH", str(data))
    cl.profiles.save(
        cl.Profile(name="hpc", scheduler="slurm", host="login.example.edu",
                   resources={"cores": 2, "partition": "normal"})
    )  # fmt: skip
    return data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_install_list_remove(capsys: pytest.CaptureFixture[str], jupyter_dir: Path) -> None:
    code, out, err = run(capsys, "kernel", "install", "hpc", "--cores", "4", "--time", "2:00:00")
    assert code == 0, err
    assert "Python on hpc (SLURM, 4 cores, 2 h, normal)" in out
    spec = json.loads((jupyter_dir / "kernels" / "clusterlab-hpc" / "kernel.json").read_text())
    prov = spec["metadata"]["kernel_provisioner"]
    assert prov["provisioner_name"] == "clusterlab"
    assert prov["config"]["profile"] == "hpc"
    # the profile's resources are the defaults; the flags win; stored in the user's form
    assert prov["config"]["resources"] == {"cores": 4, "time": "02:00:00", "partition": "normal"}

    code, out, _ = run(capsys, "kernel", "list")
    assert code == 0 and "clusterlab-hpc" in out and "Python on hpc" in out

    code, out, _ = run(capsys, "kernel", "remove", "clusterlab-hpc")
    assert code == 0 and "removed kernel 'clusterlab-hpc'" in out
    assert not (jupyter_dir / "kernels" / "clusterlab-hpc").exists()
    assert "no clusterlab kernels are installed" in run(capsys, "kernel", "list")[1]


def test_python_api_with_a_name_and_gpus(jupyter_dir: Path) -> None:
    info = cl.kernels.install("hpc", name="GPU-Box", gpus="a100:2", memory="16GB", time=90)
    assert info.name == "gpu-box"  # Jupyter's names are lower case
    assert (
        info.display_name
        == "Python on hpc (SLURM, 2 cores, 16 GB, 2 a100 GPUs, 1 h 30 min, normal)"
    )
    assert [k.name for k in cl.kernels.list()] == ["gpu-box"]
    cl.kernels.remove("gpu-box")
    assert cl.kernels.list() == []


def test_bad_input_is_a_sentence_and_nothing_is_installed(
    capsys: pytest.CaptureFixture[str], jupyter_dir: Path
) -> None:
    code, _, err = run(capsys, "kernel", "install", "hpc", "--memory", "lots")
    assert code == 2 and "memory='lots' is not a size" in err
    code, _, err = run(capsys, "kernel", "install", "nosuch")
    assert code == 2 and "nosuch" in err
    code, _, err = run(capsys, "kernel", "install", "hpc", "--name", "bad name!")
    assert code == 2 and "use letters, digits" in err
    assert not (jupyter_dir / "kernels").exists() or not list((jupyter_dir / "kernels").iterdir())


def test_remove_leaves_other_kernelspecs_alone(
    capsys: pytest.CaptureFixture[str], jupyter_dir: Path
) -> None:
    other = jupyter_dir / "kernels" / "python-other"
    other.mkdir(parents=True)
    (other / "kernel.json").write_text(
        json.dumps({"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "Other", "language": "python"})
    )  # fmt: skip
    code, _, err = run(capsys, "kernel", "remove", "python-other")
    assert code == 2 and "no clusterlab kernel is named 'python-other'" in err
    assert other.exists()
    assert run(capsys, "kernel", "list")[1].startswith("no clusterlab kernels")
