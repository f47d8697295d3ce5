"""Faults of the operating system keep the error contract: one line naming the path and the
reason, exit code 2, nothing written. Every command checks where it will write before any work
(`roadmap.files.check_writable`); a write that fails later (a full disk) names its file.

The tests run as root, which a read-only folder does not stop: the faults are a path under a
regular file (real), errors injected where every file is created and written
(`roadmap.files._create` / `_write_all`), and, where the machine lets the tests mount one, a
real full or read-only tmpfs."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from roadmap import files
from roadmap.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A finished 3-candidate study (FakeEvaluator, smoke fidelity)."""
    from roadmap.search import resolve_settings, run_search
    from roadmap.search.testing import FakeEvaluator

    path = tmp_path_factory.mktemp("faults") / "study"
    run_search(resolve_settings({"budget": 3, "fidelity": "smoke", "backend": "local"}, path, None), FakeEvaluator())
    return path


def commands(study: Path, target: Path) -> dict[str, list]:
    """Every command that writes, writing to ``target`` (a file name, or a folder for search)."""
    return {
        "search": [
            "search",
            "--backend",
            "local",
            "--fidelity",
            "smoke",
            "--budget",
            "1",
            "--study",
            target,
            "--quiet",
        ],
        "export": ["export", study, "--out", target],
        "export --onnx": ["export", study, "--out", target.parents[2] / "ok.yaml", "--onnx", target],
        "plot": ["plot", study, "--out", target],
        "train": ["train", "unet", "--iterations", "1", "--crop", "32", "--out", target],
        "apply": ["apply", "unet", "--roadmap", "unet--", "--no-latency", "--quiet", "--out", target],
        "space": ["space", "unet", "--out", target],
    }


def label(name: str) -> str:
    return {"search": "study folder", "export --onnx": "--onnx"}.get(name, "--out")


NAMES = list(commands(Path("s"), Path("a/b/c/t")))


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("name", NAMES)
def test_a_path_under_a_regular_file_is_refused_before_any_work(name, study, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder\n")
    target = tmp_path / "file" / "sub" / "x.out"
    code, out, err = run(capsys, *commands(study, target)[name])
    assert (code, out) == (2, "")
    assert err == (
        f"roadmap {name.split()[0]}: error: {label(name)} {target}: cannot write there "
        f"({tmp_path / 'file'} is a file, not a folder)\n"
    )
    assert listing(tmp_path) == ["file"]


@pytest.mark.parametrize("code_,words", [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only file system")])
@pytest.mark.parametrize("name", [n for n in NAMES if n != "export --onnx"])  # its --out is refused first
def test_a_forbidden_or_read_only_folder_is_refused_before_any_work(
    name, code_, words, study, tmp_path, capsys, monkeypatch
):
    def refuse(path, flags=os.O_TRUNC):
        raise OSError(code_, os.strerror(code_), str(path))

    monkeypatch.setattr(files, "_create", refuse)
    target = tmp_path / "out" / "x.out"
    code, out, err = run(capsys, *commands(study, target)[name])
    assert (code, out) == (2, "")
    assert err == f"roadmap {name.split()[0]}: error: {label(name)} {target}: cannot write there ({words})\n"
    assert listing(tmp_path) == []


def full_disk(monkeypatch, when=lambda fd: True) -> None:
    """Every write of file content fails half-way with ENOSPC (``when``: the open file's fd)."""
    real = files._write_all

    def half_then_full(fd, data):
        if not when(fd):
            return real(fd, data)
        with os.fdopen(fd, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "_write_all", half_then_full)


@pytest.mark.parametrize(
    "name,written", [("export", "--out"), ("apply", "--out"), ("space", "--out"), ("plot", "--out")]
)
def test_a_disk_that_fills_up_while_writing_names_the_file(name, written, study, tmp_path, capsys, monkeypatch):
    full_disk(monkeypatch)
    target = tmp_path / "x.out"
    code, _, err = run(capsys, *commands(study, target)[name])
    assert code == 2
    assert err == f"roadmap {name}: error: {written} {target}: cannot write (no space left on the device)\n"
    assert listing(tmp_path) == []  # neither the file nor its temporary copy


def test_a_full_disk_during_training_names_the_checkpoint(tmp_path, capsys, monkeypatch):
    full_disk(monkeypatch)
    out = tmp_path / "w.pt"
    # (the first file written: a checkpoint at iteration 1, before any validation)
    code, _, err = run(
        capsys,
        "train",
        "unet",
        "--iterations",
        "2",
        "--checkpoint-every",
        "1",
        "--validate-every",
        "2",
        "--crop",
        "32",
        "--batch",
        "1",
        "--out",
        out,
    )
    assert code == 2
    assert err.splitlines()[-1] == (
        f"roadmap train: error: checkpoint {out}.ckpt: cannot write (no space left on the device)"
    )
    assert listing(tmp_path) == []


@pytest.fixture
def fake_search(monkeypatch):
    """``roadmap search`` trains with the FakeEvaluator (as tests/search/fake_cli.py does)."""
    import roadmap.search as search
    from roadmap.search.testing import FakeEvaluator

    real = search.run_search
    monkeypatch.setattr(
        search, "run_search", lambda settings, evaluator=None, progress=None: real(settings, FakeEvaluator(), progress)
    )


def test_a_full_disk_stops_a_search_and_keeps_the_candidate(tmp_path, capsys, monkeypatch, fake_search):
    """A job whose weights cannot be written is the disk's failure, not the candidate's: the
    search stops with one line and the trial is queued again, not counted as failed."""
    from optuna.trial import TrialState

    from roadmap.search import study as st

    fidelity = tmp_path / "rungs.yaml"
    fidelity.write_text("iterations: 4\nrungs: [2, 4]\nbatch: 2\ncrop: 32\nval_crop: 32\nval_count: 2\n")
    real = files._create
    monkeypatch.setattr(
        files,
        "_create",
        lambda path, flags=os.O_TRUNC: _raise(errno.ENOSPC, path) if ".pt." in Path(path).name else real(path, flags),
    )
    folder = tmp_path / "study"
    code, _, err = run(
        capsys, "search", "--backend", "local", "--fidelity", fidelity, "--budget", "2", "--study", folder, "--quiet"
    )
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"roadmap search: error: save_weights {folder}/trials/0/rung0-seed0.pt: cannot write "
        "(no space left on the device); the search stopped and keeps its finished "
        "trials: make room, then run the same command to resume"
    )
    trials = st.open_study(folder).get_trials(deepcopy=False)
    assert [t.state for t in trials][:2] == [TrialState.PRUNED, TrialState.WAITING]  # re-queued, not FAIL


def _raise(code: int, path) -> int:
    raise OSError(code, os.strerror(code), str(path))


def test_a_full_sqlite_database_names_study_db(tmp_path, capsys, monkeypatch, fake_search):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from roadmap.search import study as st

    def full(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(st.StudyStore, "record", full)
    folder = tmp_path / "study"
    code, _, err = run(
        capsys, "search", "--backend", "local", "--fidelity", "smoke", "--budget", "1", "--study", folder, "--quiet"
    )
    assert code == 2
    assert err.splitlines()[-1] + "\n" == (
        f"roadmap search: error: study {folder}/study.db: cannot write (no space left on the device); "
        "the search stopped and keeps its finished trials\n"
    )


def test_any_os_error_at_the_edge_is_one_line(capsys, monkeypatch):
    """An OSError no writer wrapped (a lock file, a library's own file) still names the path."""
    from roadmap.cli import show_cmd

    def broken(args):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/locked/file")

    monkeypatch.setattr(show_cmd, "run", broken)
    monkeypatch.setattr(show_cmd, "register", _register_with(show_cmd.register, broken))
    code, out, err = run(capsys, "show", "unet")
    assert (code, out, err) == (2, "", "roadmap show: error: /srv/locked/file: permission denied\n")


def _register_with(register, func):
    def wrapped(sub):
        register(sub)
        sub.choices["show"].set_defaults(func=func)

    return wrapped


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a 64 KiB tmpfs (options from the test); skipped where the machine does not allow it."""
    mounted = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"{options},size=64k", "tmpfs", str(point)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def test_a_real_full_disk_is_refused_before_any_work(tmpfs, study, capsys):
    disk = tmpfs("rw")
    (disk / "fill").write_bytes(b"\0" * (64 << 10))
    code, _, err = run(capsys, "export", study, "--out", disk / "x.yaml")
    assert (code, err) == (
        2,
        f"roadmap export: error: --out {disk / 'x.yaml'}: cannot write there (no space left on the device)\n",
    )
    assert listing(disk) == ["fill"]


def test_a_real_read_only_disk_is_refused_before_any_work(tmpfs, capsys):
    disk = tmpfs("ro")
    code, _, err = run(capsys, "space", "unet", "--out", disk / "space.yaml")
    assert (code, err) == (
        2,
        f"roadmap space: error: --out {disk / 'space.yaml'}: cannot write there (read-only file system)\n",
    )
