"""``adderflow.registry``: duplicates refused at registration, unknown names by name."""

import pytest

from adderflow.errors import ModelFormatError
from adderflow.registry import DuplicateRegistration, Registry


def test_register_get_and_list():
    table: Registry[int] = Registry("cost rule")
    table.register("B")(2)
    table.add("A", 1)
    assert table.get("A") == 1 and table.names() == ["A", "B"] and list(table) == ["A", "B"]
    assert "B" in table and "C" not in table and len(table) == 2


def test_duplicate_refused():
    table: Registry[int] = Registry("RTL unit")
    table.add("A", 1)
    with pytest.raises(DuplicateRegistration, match="RTL unit 'A' is registered twice"):
        table.add("A", 2)
    assert table.get("A") == 1


def test_unknown_named_with_the_known_ones():
    table: Registry[int] = Registry("hls4ml layer mapping")
    table.add("A", 1)
    with pytest.raises(
        ModelFormatError, match=r"node 'n3': op 'Z' has no hls4ml layer mapping \(known: A\)"
    ):
        table.get("Z", where="node 'n3'")
