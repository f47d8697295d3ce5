"""The real ``roadmap`` command line, except that ``roadmap search`` trains with
`FakeEvaluator(train_seconds=TRAIN_SECONDS)`; for the tests that stop or kill a search.

    python tests/search/fake_cli.py TRAIN_SECONDS search --study DIR ...

Only ``run_search``'s default evaluator is replaced (the command, its settings, Ctrl-C
handling, exit codes and the executors are the real ones); the evaluator is pickled to the
Ray workers like the real one.
"""

import sys


def main() -> int:
    import roadmap.search as search
    from roadmap.cli import main as cli
    from roadmap.search.testing import FakeEvaluator

    evaluator = FakeEvaluator(train_seconds=float(sys.argv[1]))
    run_search = search.run_search

    def with_fake_evaluator(settings, evaluator_=None, progress=None):
        return run_search(settings, evaluator, progress)

    search.run_search = with_fake_evaluator  # roadmap.cli.search_cmd imports it when it runs
    return cli(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
