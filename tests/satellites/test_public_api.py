"""The package says what is public, and the list is complete."""

import inspect

import nexus_agent.satellites as satellites


def test_all_lists_every_public_name():
    public = {
        name for name, value in vars(satellites).items() if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(satellites.__all__)
    for name in satellites.__all__:
        assert getattr(satellites, name) is not None
