"""The one exception type the CLI turns into a one-line message and exit code 2."""


class RoadmapError(Exception):
    """A user-facing error: bad input, an impossible request, a missing file.

    The message is one line that names the field or value at fault, e.g.
    ``encoder[2].conv.portion: must be in (0, 1], got 1.5``.
    """


class SpecError(RoadmapError, ValueError):
    """An architecture spec (or a transform's parameters) that cannot be built."""
