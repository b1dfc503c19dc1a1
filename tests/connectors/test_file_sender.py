"""The file connector on a real file: whole lines or nothing, each message once, the file read once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from connectors.channels.file import FileSender, line_for

ROOT = Path(__file__).resolve().parents[2]


def message(mid: str, text: str = "Hello") -> dict[str, str]:
    return {"id": mid, "to": "a@x.example", "subject": "Hi", "text": text, "channel": "email"}


# sends three messages under a file size limit, SIGXFSZ ignored (as a full disk: the write fails, the process lives)
UNDER_LIMIT = textwrap.dedent("""
    import asyncio, json, resource, signal, sys
    from pathlib import Path
    from connectors.channels.file import FileSender

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    path, limit, messages = Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    async def main():
        sender, outcomes = FileSender(path), []
        for m in messages:
            try:
                await sender.send(m)
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        print(json.dumps(outcomes))

    asyncio.run(main())
""")


def test_a_write_cut_off_by_a_size_limit_leaves_no_partial_line_and_is_not_delivered(tmp_path: Path) -> None:
    small, big, after = message("m1"), message("m2", "x" * 400), message("m3")
    path = tmp_path / "messages.jsonl"
    limit = len(line_for(small)) + len(line_for(after)) + 10  # the big one cannot fit; the next small one can
    done = subprocess.run([sys.executable, "-c", UNDER_LIMIT, str(path), str(limit), json.dumps([small, big, after])],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert json.loads(done.stdout) == ["ok", "TransientError", "ok"], done.stderr
    assert path.read_bytes() == line_for(small) + line_for(after)


def test_a_cut_off_last_line_is_cut_away_on_open_and_that_message_counts_as_not_delivered(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_bytes(line_for(message("m1")) + line_for(message("m2"))[:25])

    async def go() -> tuple[bool | None, bool | None]:
        sender = FileSender(path)
        landed = await sender.confirm("m1"), await sender.confirm("m2")
        await sender.send(message("m2"))
        await sender.close()
        return landed

    assert asyncio.run(go()) == (True, False)
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["m1", "m2"]


def test_a_message_already_in_the_file_is_not_written_twice(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"

    async def go() -> None:
        sender = FileSender(path)
        await sender.send(message("m1"))
        await sender.close()
        again = FileSender(path)  # after a restart, an operator's `--as resend` of a message that had landed
        await again.send(message("m1"))
        await again.close()

    asyncio.run(go())
    assert path.read_bytes() == line_for(message("m1"))


def test_the_file_is_read_once_when_opened_and_confirm_answers_from_its_index(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_bytes(b"".join(line_for(message(f"m{n}")) for n in range(1000)))
    sender = FileSender(path)
    path.rename(tmp_path / "elsewhere.jsonl")  # no second read can find it
    assert [asyncio.run(sender.confirm(f"m{n}")) for n in (0, 999, 1000)] == [True, True, False]
