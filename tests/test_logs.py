"""videossl.logs helpers."""

from videossl.logs import format_duration


def test_format_duration():
    assert [format_duration(s) for s in (0, 59.6, 61, 3725, -3)] == [
        "0m00s",
        "1m00s",
        "1m01s",
        "1h02m05s",
        "0m00s",
    ]
