"""No input file can crash the command line: each loader's malformed files, through
``roadmap.cli.main`` in process. The command exits 0 (the file was fine after all) or 2 with at
most two lines on stderr (a deprecation warning and the error), never a traceback.

Work after loading is replaced where it would train (``eval``: the data loading; ``search``:
``run_search``), so each example costs a load, not a training.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.loaders.loader_corpus import REPO, file_name, shipped
from tests.loaders.loader_mutations import malformed

CLI_FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


class Loaded(Exception):
    """Raised by the stand-ins: everything before them (the loading) went through."""


def run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    """``roadmap ARGV`` in process; checks the exit code and stderr, returns both."""
    from roadmap.cli import main

    capsys.readouterr()
    try:
        code = main(argv)
    except Loaded:
        code = 0
    _, err = capsys.readouterr()
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    assert code == 0 or 1 <= len(err.strip().splitlines()) <= 2, err  # an error: one line, or two
    return code, err


def _stub(*_args, **_kwargs):
    raise Loaded


@pytest.fixture
def no_training(monkeypatch):
    import roadmap.evaluation.data
    import roadmap.search

    monkeypatch.setattr(roadmap.evaluation.data, "load_data", _stub)  # eval: after --fidelity is read
    monkeypatch.setattr(roadmap.search, "run_search", _stub)  # search: after the settings are resolved


def argv_for(kind: str, path, folder) -> list[str]:
    if kind == "spec":
        return ["show", str(path), "--input-size", "32", "32"]
    if kind == "roadmap":
        return ["apply", "nafnet", "--roadmap", str(path), "--no-latency", "--input-size", "32", "32", "--quiet"]
    if kind == "fidelity":
        return ["eval", "nafnet", "--fidelity", str(path), "--no-measure", "--quiet"]
    if kind == "space":
        return ["search", "--space", str(path), "--study", str(folder / "study"), "--backend", "local", "--quiet"]
    return ["search", "--study", str(folder), "--backend", "local", "--quiet"]  # settings.json


def bases(kind: str) -> tuple[bytes, ...]:
    # `search --space` runs on the default seed (nafnet): a space of another seed is refused
    # at once; mutate the one that reaches check_space.
    return ((REPO / "search_spaces" / "nafnet.yaml").read_bytes(),) if kind == "space" else shipped(kind)


@pytest.mark.parametrize("kind", ["spec", "roadmap", "fidelity", "space", "settings"])
def test_a_malformed_file_exits_2_with_one_line(kind, capsys, no_training, tmp_path):
    counter = iter(range(10**6))
    codes = {0: 0, 2: 0}

    @CLI_FUZZ
    @given(case=malformed(bases(kind)))
    def run(case):
        folder = tmp_path / str(next(counter))
        folder.mkdir()
        path = folder / file_name(kind)
        path.write_bytes(case[1])
        codes[run_cli(capsys, argv_for(kind, path, folder))[0]] += 1

    run()
    assert codes[2] >= 20, codes


@pytest.mark.parametrize("kind", ["spec", "roadmap", "fidelity", "space", "settings"])
def test_random_bytes_exit_2_naming_the_file(kind, capsys, no_training, tmp_path):
    path = tmp_path / file_name(kind)
    path.write_bytes(bytes(range(128, 256)) * 32)  # the 4 KB of bytes that are not UTF-8
    code, err = run_cli(capsys, argv_for(kind, path, tmp_path))
    assert code == 2 and err.count("\n") == 1
    assert f"{path}: not UTF-8 text (byte 0x80 at line 1, column 1)" in err
