"""kill -9 crash-safety loop: acknowledged writes survive, nothing partial becomes visible.

Each trial runs concurrent writers against a real two-worker ``dockyard serve``, kills the
whole process group with SIGKILL at a seeded random moment, restarts on the same data
directory and checks the registry against a ledger of acknowledged operations:

* every acknowledged blob is present (HEAD size, GET bytes hashing to the digest);
* every acknowledged manifest / tag resolves to the exact bytes and digest pushed, unless
  a later acknowledged delete removed it; acknowledged deletes stay deleted;
* an operation in flight at the kill may or may not have applied, but atomically: a
  manifest push creates the manifest and moves its tag together, a delete by digest
  drops the manifest and its tags together;
* nothing partial is visible: every blob HEAD reports returns full bytes of the right
  hash, every manifest hashes to its digest, tag lists and the catalog parse and agree;
* an interrupted upload session answers GET status with a size between the acknowledged
  and the attempted offset (and can be resumed to a correct blob), or BLOB_UPLOAD_UNKNOWN;
  a client retrying its interrupted final PUT gets 201 or BLOB_UPLOAD_UNKNOWN. Never 5xx.

Key ownership makes the ledger exact: writer ``i`` owns the tags ``w<i>-*`` and the
manifests it created (unique bytes), so every key is written by one thread, in order, and
each thread has at most one unacknowledged operation when the server dies. Blobs are
shared (any acknowledged blob of a repository may be referenced by any writer) and never
deleted. After each verification the model is collapsed to what the server showed, so
in-flight outcomes carry over exactly into the next trial.

Environment: DOCKYARD_CRASH_SEED (default: random, printed), DOCKYARD_CRASH_TRIALS
(default 30; CI requires at least 30), DOCKYARD_CRASH_WRITERS (default 5),
DOCKYARD_CRASH_RETRY_FINAL_PUT (default 1: retry an unanswered final PUT blindly, as a
client retrying its last request does; 0: only after GET status still knows the upload).
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

import pytest
from tests.crash.harness import (
    REQUEST_TIMEOUT,
    Bearer,
    Model,
    Verifier,
    Writer,
    env_int,
    fail_report,
    kill_group,
    note,
    restart,
    summary,
)

pytestmark = [pytest.mark.crash, pytest.mark.timeout(3600)]

KILL_DELAY = (0.2, 1.5)
CI_MIN_TRIALS = 30


def test_kill_loop(fresh_registry: Any) -> None:
    seed = env_int("DOCKYARD_CRASH_SEED", random.SystemRandom().randrange(2**32))
    trials = env_int("DOCKYARD_CRASH_TRIALS", 30)
    writers = env_int("DOCKYARD_CRASH_WRITERS", 5)
    if os.environ.get("CI", "").strip().lower() == "true" and trials < CI_MIN_TRIALS:
        pytest.fail(f"CI runs at least {CI_MIN_TRIALS} crash trials, not {trials}")
    print(f"\ncrash loop: seed={seed} trials={trials} writers={writers}", flush=True)

    rng = random.Random(seed)
    model = Model()
    started = time.monotonic()
    server = fresh_registry(workers=2)
    token = Bearer(server.admin)
    auth = token.for_server(server.url)

    for trial in range(trials):
        delay = rng.uniform(*KILL_DELAY)
        stop = threading.Event()
        threads = [Writer(i, trial, seed, server.url, auth, model, stop) for i in range(writers)]
        model.t_start = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(delay)
        note(server, f"trial {trial}: SIGKILL of the process group at +{delay:.3f}s")
        kill_group(server)
        stop.set()
        for t in threads:
            t.join(timeout=REQUEST_TIMEOUT + 5)
            assert not t.is_alive(), f"{t.name} hangs after the kill"

        restart(server, model)
        note(server, f"trial {trial}: restarted, verifying")
        t_verify = time.monotonic()
        auth = token.for_server(server.url)
        verifier = Verifier(model, server.url, auth, trial)
        try:
            verifier.run(trial == trials - 1, random.Random(f"{seed}:verify:{trial}"))
        finally:
            verifier.close()
        t_verify = time.monotonic() - t_verify
        s = model.stats
        print(
            f"trial {trial:3d}: kill at +{delay:.2f}s, acked so far {sum(s.acked.values())}, "
            f"in flight {s.in_flight}, lost {len(s.lost)}, corrupt {len(s.corrupt)}, "
            f"errors {len(s.errors)}, restart {s.restart_seconds[-1]:.1f}s, "
            f"verify {t_verify:.1f}s",
            flush=True,
        )
        if s.lost or s.corrupt or s.errors:
            pytest.fail(fail_report(seed, trial, model, [server]), pytrace=False)

    print(summary(seed, trials, model, time.monotonic() - started), flush=True)
    s = model.stats
    assert not (s.lost or s.corrupt or s.errors)
