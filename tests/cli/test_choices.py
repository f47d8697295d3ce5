"""Options that name an entry of a registry offer exactly the registry's names."""

from __future__ import annotations

import re

import pytest

from roadmap.cli import main
from roadmap.evaluation.latency_backends import LATENCY_BACKENDS
from roadmap.search.samplers import SAMPLERS


@pytest.mark.parametrize(
    "argv,option,registry",
    [
        (["search"], "--sampler", SAMPLERS),
        (["search"], "--latency-backend", LATENCY_BACKENDS),
        (["eval", "nafnet"], "--latency-backend", LATENCY_BACKENDS),
        (["apply", "nafnet", "--roadmap", "mofa"], "--latency-backend", LATENCY_BACKENDS),
    ],
)
def test_a_name_outside_the_registry_is_a_usage_error_listing_its_names(argv, option, registry, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, option, "bogus"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(f"roadmap {argv[0]}: error: argument {option}: invalid choice")
    listed = re.search(r"\(choose from (.*)\)$", err.strip()).group(1)
    assert tuple(name.strip(" '") for name in listed.split(",")) == registry.names()
