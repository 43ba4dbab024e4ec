"""The claims table: one owner per request digest, across processes sharing one folder."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from wan_notebook.store import OutputStore
from wan_notebook.store import index as _index
from wan_notebook.store.claims import new_owner, pid_alive

DIGEST = "d" * 64
LEASE = 60.0


def test_the_first_claimant_owns_and_every_other_gets_the_owners_row(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    first, second = new_owner(), new_owner()
    owned, claim, dead = store.claim(DIGEST, first, lease=LEASE, now=time.time())
    assert owned and claim.owner == first and dead is None
    owned, claim, dead = store.claim(DIGEST, second, lease=LEASE, now=time.time())
    assert not owned and claim.owner == first and dead is None
    assert store.claim_task(DIGEST, first, "task-1")
    assert not store.claim_task(DIGEST, second, "task-2")  # not the owner: nothing changes
    got = store.get_claim(DIGEST)
    assert got is not None and got.task_id == "task-1" and got.state == "following"
    assert store.claim(DIGEST, first, lease=LEASE, now=time.time())[0]  # ours again: fine
    assert not store.release_claim(DIGEST, second)
    assert store.release_claim(DIGEST, first)
    assert store.get_claim(DIGEST) is None
    assert store.claim(DIGEST, second, lease=LEASE, now=time.time())[0]


def test_a_live_owner_is_never_robbed_even_with_a_stale_heartbeat(tmp_path: Path) -> None:
    """This process is alive: however old its heartbeat, nobody on this host takes over."""
    store = OutputStore(tmp_path)
    owner = new_owner()
    store.claim(DIGEST, owner, lease=LEASE, now=time.time() - 10 * LEASE)
    owned, claim, _ = store.claim(DIGEST, new_owner(), lease=LEASE, now=time.time())
    assert not owned and claim.owner == owner


_HOLDER = """
import sys, time
from wan_notebook.store import OutputStore
from wan_notebook.store.claims import new_owner
store = OutputStore(sys.argv[1])
owned, claim, _ = store.claim(sys.argv[2], new_owner(), lease=60.0, now=float(sys.argv[3]))
store.claim_task(sys.argv[2], claim.owner, "task-of-the-dead")
print("held", flush=True)
time.sleep(600)
"""


def test_a_killed_owners_claim_is_taken_over_once_its_lease_ran_out(tmp_path: Path) -> None:
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path), DIGEST, str(started)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        store = OutputStore(tmp_path)
        # alive: not taken, however late it is
        assert not store.claim(DIGEST, new_owner(), lease=1.0, now=started + 100)[0]
    finally:
        proc.kill()
        proc.wait()
    assert not pid_alive(proc.pid)
    store = OutputStore(tmp_path)
    me = new_owner()
    # dead but the heartbeat is fresh: still not (a generous lease covers a stalled machine)
    assert not store.claim(DIGEST, me, lease=LEASE, now=started + 1)[0]
    owned, claim, dead = store.claim(DIGEST, me, lease=LEASE, now=started + 2 * LEASE)
    assert owned and claim.owner == me
    assert dead is not None and dead.pid == proc.pid and dead.task_id == "task-of-the-dead"
    assert claim.task_id == "task-of-the-dead"  # followers keep following the same task


_RACER = """
import sys, time
from wan_notebook.store import OutputStore
from wan_notebook.store.claims import new_owner
store = OutputStore(sys.argv[1])
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
wins = 0
for n in range(20):
    owned, _, _ = store.claim(f"digest-{n}", new_owner(), lease=60.0, now=time.time())
    wins += owned
print(wins, flush=True)
"""


def test_processes_racing_for_the_same_digests_get_exactly_one_owner_each(
    tmp_path: Path,
) -> None:
    OutputStore(tmp_path).get_claim(DIGEST)  # nothing yet
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    wins = [int(p.communicate(timeout=120)[0].strip()) for p in procs]
    assert sum(wins) == 20  # each of the 20 digests has exactly one owner
    with sqlite3.connect(tmp_path / "index.sqlite") as conn:
        assert conn.execute("SELECT count(DISTINCT owner) FROM claims").fetchone()[0] >= 1
        assert conn.execute("SELECT count(*) FROM claims").fetchone()[0] == 20


def test_a_version_1_folder_gains_the_claims_table_and_keeps_its_rows(tmp_path: Path) -> None:
    """Schema 1 -> 2: an existing folder keeps working (its journal rows stay)."""
    path = tmp_path / "index.sqlite"
    with sqlite3.connect(path) as conn:
        _index._v0_to_v1(conn)
        conn.execute(
            "INSERT INTO intents (digest, model, request_json, created_at, updated_at, state)"
            " VALUES ('x', 'm', '{}', '2026-01-01T00:00:00.000000Z',"
            " '2026-01-01T00:00:00.000000Z', 'open')"
        )
        conn.execute(f"PRAGMA application_id = {_index.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
    store = OutputStore(tmp_path)
    assert [i.digest for i in store.dangling_intents()] == ["x"]
    assert store.claim(DIGEST, new_owner(), lease=LEASE, now=time.time())[0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2


def test_pid_alive_tells_a_reaped_and_a_zombie_child_from_a_live_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        deadline = time.time() + 60
        while pid_alive(child.pid) and time.time() < deadline:  # a zombie until reaped
            time.sleep(0.01)
        assert not pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
    assert not pid_alive(0)


def test_heartbeat_refreshes_only_the_given_owners(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    a, b = new_owner(), new_owner()
    store.claim("a" * 64, a, lease=LEASE, now=100.0)
    store.claim("b" * 64, b, lease=LEASE, now=100.0)
    assert store.heartbeat_claims([a], 500.0) == 1
    claim_a, claim_b = store.get_claim("a" * 64), store.get_claim("b" * 64)
    assert claim_a is not None and claim_a.heartbeat == 500.0
    assert claim_b is not None and claim_b.heartbeat == 100.0
