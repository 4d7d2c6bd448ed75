"""The kill -9 crash loop against two nodes on PostgreSQL + S3, one node killed at a time.

The ledger, writers and verifier are those of ``tests/crash/test_kill_loop.py`` (shared in
``tests/crash/harness.py``; its docstring has the rules). What differs:

* node A and node B share one PostgreSQL database and one S3 bucket (the ``make_cluster``
  fixture); writers send each request to a node of their own seeded choice, so chunks of
  one upload, the final PUT and the manifest that uses the blob land on different nodes;
* each trial SIGKILLs the process group of ONE node (A, B, A, …) at a seeded moment, and
  the writers keep going through the survivor for a moment longer: a request refused by
  the dead node is sent to the other one (it never reached the dead node), a request cut
  mid-flight stays unacknowledged, as in the single-node loop;
* the killed node restarts on its port, and the verifier reads through both nodes.

Environment as for the single-node loop: DOCKYARD_CRASH_SEED, DOCKYARD_CRASH_TRIALS
(default 30; CI requires at least 30), DOCKYARD_CRASH_WRITERS (default 4 here).
"""

from __future__ import annotations

import os
import random
import threading
import time

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
from tests.multinode.conftest import ClusterFactory

pytestmark = [pytest.mark.crash, pytest.mark.e2e, pytest.mark.timeout(1800)]

KILL_DELAY = (0.2, 1.5)
#: How long the writers go on through the surviving node after the kill.
SURVIVOR_WRITES = (0.2, 0.8)
CI_MIN_TRIALS = 30


def test_kill_loop_two_nodes(make_cluster: ClusterFactory) -> None:
    seed = env_int("DOCKYARD_CRASH_SEED", random.SystemRandom().randrange(2**32))
    trials = env_int("DOCKYARD_CRASH_TRIALS", 30)
    writers = env_int("DOCKYARD_CRASH_WRITERS", 4)
    if os.environ.get("CI", "").strip().lower() == "true" and trials < CI_MIN_TRIALS:
        pytest.fail(f"CI runs at least {CI_MIN_TRIALS} crash trials, not {trials}")
    print(f"\ntwo-node crash loop: seed={seed} trials={trials} writers={writers}", flush=True)

    rng = random.Random(seed)
    model = Model()
    started = time.monotonic()
    cluster = make_cluster()
    nodes = [cluster.a, cluster.b]
    urls = [n.url for n in nodes]  # ports survive restarts
    token = Bearer(cluster.admin)
    auth = token.for_server(urls[0])

    for trial in range(trials):
        victim, survivor = nodes[trial % 2], nodes[(trial + 1) % 2]
        delay = rng.uniform(*KILL_DELAY)
        after = rng.uniform(*SURVIVOR_WRITES)
        stop = threading.Event()
        threads = [Writer(i, trial, seed, urls, auth, model, stop) for i in range(writers)]
        model.t_start = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(delay)
        note(victim, f"trial {trial}: SIGKILL of this node at +{delay:.3f}s")
        note(survivor, f"trial {trial}: the other node ({victim.url}) killed at +{delay:.3f}s")
        kill_group(victim)
        time.sleep(after)  # writers carry on through the survivor
        stop.set()
        for t in threads:
            t.join(timeout=REQUEST_TIMEOUT + 5)
            assert not t.is_alive(), f"{t.name} hangs after the kill"

        restart(victim, model)
        note(victim, f"trial {trial}: restarted, verifying")
        t_verify = time.monotonic()
        # A token from the node that stayed up must work on the restarted one (one key).
        auth = token.for_server(survivor.url)
        verifier = Verifier(model, urls, auth, trial)
        try:
            verifier.run(trial == trials - 1, random.Random(f"{seed}:verify:{trial}"))
        finally:
            verifier.close()
        t_verify = time.monotonic() - t_verify
        s = model.stats
        print(
            f"trial {trial:3d}: killed {'AB'[trial % 2]} at +{delay:.2f}s (+{after:.2f}s on "
            f"{'BA'[trial % 2]}), acked so far {sum(s.acked.values())}, "
            f"in flight {s.in_flight}, lost {len(s.lost)}, corrupt {len(s.corrupt)}, "
            f"errors {len(s.errors)}, restart {s.restart_seconds[-1]:.1f}s, "
            f"verify {t_verify:.1f}s",
            flush=True,
        )
        if s.lost or s.corrupt or s.errors:
            pytest.fail(fail_report(seed, trial, model, nodes), pytrace=False)

    print(summary(seed, trials, model, time.monotonic() - started), flush=True)
    s = model.stats
    assert not (s.lost or s.corrupt or s.errors)
