"""Log lines are parsed (JSON, plain text), filtered, normalized into patterns and counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from noa_lib.errors import ParameterError
from noa_lib.ops.logs.parse import check_level, keep, parse_line, parse_text, parse_time
from noa_lib.ops.logs.patterns import group, normalize
from noa_lib.show.logs import per_minute

T0 = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        ("Unhandled exception in /api/v1/chat: KeyError 'choices'",
         "Unhandled exception in /api/v1/chat: KeyError <s>"),
        ("slow query 2345 ms: SELECT * FROM chats WHERE id = 42",
         "slow query <duration>: SELECT * FROM chats WHERE id = <n>"),
        ("QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30.00",
         "QueuePool limit of size <n> overflow <n> reached, connection timed out, timeout <n>"),
        ("upstream error from ai provider openai: 503",
         "upstream error from ai provider openai: <n>"),
        ("request 7f3a9c0e-1234-4abc-8def-0123456789ab failed from 10.0.3.7:5432 after 1.5s",
         "request <id> failed from <ip> after <duration>"),
        ("user 12345 hit rate limit (trace 9f8e7d6c5b4a)", "user <n> hit rate limit (trace <id>)"),
        ("GET https://api.openai.com/v1/chat?x=1 took 300ms at 2026-11-27T01:02:03.123Z",
         "GET <url> took <duration> at <ts>"),
        ("worker-3 retry 5 of job abc123def0", "worker-<n> retry <n> of job <id>"),
        ("pod api-7d9f8c6b5-x2kqz   restarted", "pod <pod> restarted"),
        ('bad value "x y" at 0x1f', "bad value <s> at <id>"),
        ("MemoryError", "MemoryError"),
    ],
)
def test_normalize(message: str, pattern: str) -> None:
    assert normalize(message) == pattern


def test_variants_of_one_problem_share_a_pattern() -> None:
    a = normalize("slow query 2345 ms: SELECT 1 -- request 1a2b3c4d5e6f")
    b = normalize("slow query 17 ms: SELECT 1 -- request ffff0000aaaa1")
    assert a == b
    assert len(normalize("x" * 1000)) == 200


def test_parse_json_line_with_kubernetes_timestamp_prefix() -> None:
    line = parse_line(
        '2026-11-27T01:02:03.123456789Z {"ts": "2026-11-27T01:02:03.120Z", "level": "ERROR", '
        '"logger": "noa.api", "msg": "boom 42", "status": 500, "request_id": "abc"}',
        pod="api-0", container="api",
    )
    assert line is not None
    assert line.level == "error" and line.message == "boom 42" and line.logger == "noa.api"
    assert line.time == datetime(2026, 11, 27, 1, 2, 3, 120000, tzinfo=UTC)
    assert line.fields["status"] == 500 and line.pod == "api-0"


def test_parse_plain_text_fallback() -> None:
    line = parse_line("2026-11-27T01:02:03Z [WARN] pool almost full", pod="p")
    assert line is not None and line.level == "warning" and line.time == T0
    assert line.message == "[WARN] pool almost full"
    crash = parse_line("Traceback (most recent call last):", pod="p", previous=True)
    assert crash is not None and crash.level == "error" and crash.previous
    plain = parse_line("2026-11-27 01:02:03,500 ERROR noa.worker: job failed", pod="p")
    assert plain is not None and plain.level == "error"
    assert plain.time == T0 + timedelta(milliseconds=500)
    assert parse_line("   ", pod="p") is None
    assert parse_line("{not json", pod="p") is not None  # kept as text


def test_parse_time_variants() -> None:
    assert parse_time("2026-11-27T01:02:03.123456789Z") == T0 + timedelta(microseconds=123456)
    assert parse_time("2026-11-27T01:02:03+00:00") == T0
    assert parse_time("yesterday") is None


def test_levels_and_filters() -> None:
    assert check_level("WARN") == "warning" and check_level("fatal") == "critical"
    with pytest.raises(ParameterError) as info:
        check_level("loud")
    assert info.value.name == "min_level" and "error" in str(info.value.accepted)
    text = "\n".join([
        '{"level": "info", "msg": "GET /healthz 200", "ts": "2026-11-27T01:02:03Z"}',
        '{"level": "warning", "msg": "slow query 900 ms", "ts": "2026-11-27T01:02:04Z"}',
        '{"level": "error", "msg": "Unhandled exception KeyError", "ts": "2026-11-27T01:03:05Z"}',
        '{"level": "critical", "msg": "MemoryError", "ts": "2026-11-27T01:04:05Z"}',
    ])
    lines = list(parse_text(text, pod="api-0"))
    assert [x.level for x in keep(lines)] == ["error", "critical"]
    assert len(keep(lines, min_level="warning")) == 3
    assert [x.message for x in keep(lines, min_level="info", grep="keyerror|memory")] == [
        "Unhandled exception KeyError", "MemoryError"]
    assert len(keep(lines, min_level="info", grep="(unbalanced")) == 0  # literal fallback
    assert len(keep(lines, min_level="debug", since=T0 + timedelta(minutes=1))) == 2


def test_group_and_per_minute() -> None:
    lines = []
    for i in range(6):
        lines.append(parse_line(
            f'{{"level": "error", "msg": "slow query {100 + i} ms", '
            f'"ts": "{(T0 + timedelta(seconds=20 * i)).isoformat()}"}}', pod=f"api-{i % 2}"))
    lines.append(parse_line('{"level": "critical", "msg": "MemoryError", '
                            f'"ts": "{T0.isoformat()}"}}', pod="api-1", previous=True))
    parsed = [x for x in lines if x is not None]
    groups = group(parsed)
    assert [(g.pattern, g.count) for g in groups] == [("slow query <duration>", 6),
                                                      ("MemoryError", 1)]
    top = groups[0]
    assert top.pods == ("api-0", "api-1") and top.share == pytest.approx(6 / 7)
    assert top.first == T0 and top.last == T0 + timedelta(seconds=100)
    assert top.example == "slow query 105 ms" and groups[1].previous == 1
    assert len(group(parsed, top=1)) == 1
    frame = per_minute(parsed)
    assert list(frame.columns) == ["MemoryError", "slow query <duration>", "total"]
    assert list(frame["total"]) == [4, 3]  # 01:02 and 01:03
    assert str(frame.index.tz) == "UTC" and frame.index.name == "time"
    only = per_minute(parsed, ["slow query <duration>", "absent"])
    assert list(only["absent"]) == [0, 0]
    assert per_minute([]).empty
