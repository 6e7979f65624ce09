"""Two hosts that share no disk, started together on an empty archive, end with one key.

Each host has its own data folder (its key file lives there) over one database and one
object store. Without the claim each would make a key and sign checkpoints the other
cannot verify; with it the second host makes none, says where the archive's key is, and
verifies the first host's checkpoints with the public key it is given.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.config import Settings
from storage.errors import LedgerError
from storage.ledger_claim import claimed_key, make_archive_key
from storage.services import Services

REPO = Path(__file__).resolve().parents[2]


def _host(tmp_path: Path, name: str, database_url: str, **extra: str) -> Settings:
    return Settings(
        data_dir=tmp_path / name,
        database_url=database_url,
        objects_dir=tmp_path / "shared-objects",
        **extra,  # type: ignore[arg-type]
    )


_HOST = """
import json, sys, time
from pathlib import Path
from storage.config import Settings
from storage.services import Services
data, url, objects, start = sys.argv[1:5]
while not Path(start).exists():  # every host waits for the same signal, then opens at once
    time.sleep(0.001)
svc = Services.open(Settings(data_dir=Path(data), database_url=url, objects_dir=Path(objects)))
keys = svc.ledger.keys
print(json.dumps({"signer": keys.signer.hex if keys.signer else None, "problem": keys.problem}))
svc.close()
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_hosts_started_together_end_with_one_archive_key(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    Services.open(_host(tmp_path, "migrate", url), create_key=False).close()
    start = tmp_path / "start"
    hosts = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-c",
                _HOST,
                str(tmp_path / name),
                url,
                str(tmp_path / "shared-objects"),
                str(start),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )  # fmt: skip
        for name in ("a", "b", "c")
    }
    time.sleep(3)  # all three are waiting, imports done
    start.touch()
    seen = {}
    for name, proc in hosts.items():
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, name
        seen[name] = json.loads(out.strip().splitlines()[-1])
    svc = Services.open(_host(tmp_path, "migrate", url), create_key=False)
    try:
        claim = claimed_key(svc.db)
    finally:
        svc.close()
    assert claim is not None
    signers = [n for n, s in seen.items() if s["signer"] is not None]
    assert len(signers) == 1, f"hosts holding a signing key: {seen}"
    assert seen[signers[0]]["signer"] == claim.public_hex
    for name, state in seen.items():
        key_file = tmp_path / name / "keys" / "ledger-ed25519.pem"
        assert key_file.exists() == (name == signers[0]), name
        if name != signers[0]:
            assert claim.key_id in state["problem"] and claim.public_hex in state["problem"]
    winner = Services.open(_host(tmp_path, signers[0], url))
    try:
        winner.record("test", "s")
        assert winner.ledger.checkpoint() is not None
    finally:
        winner.close()
    loser = next(n for n in seen if n != signers[0])
    refused = Services.open(_host(tmp_path, loser, url))
    try:
        with pytest.raises(LedgerError, match=claim.key_id):
            refused.ledger.checkpoint()
    finally:
        refused.close()
    verifier = Services.open(
        _host(tmp_path, loser, url, ledger_public_key=claim.public_hex), create_key=False
    )
    try:
        assert verifier.ledger.verify().ok
    finally:
        verifier.close()


def test_keygen_on_a_second_host_is_refused_and_names_the_archive_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = Services.open(_host(tmp_path, "a", url), create_key=False)
    try:
        key = make_archive_key(first.db, tmp_path / "a" / "k.pem", None)
        with pytest.raises(LedgerError, match=key.key_id):
            make_archive_key(first.db, tmp_path / "b" / "k.pem", None)
        assert not (tmp_path / "b" / "k.pem").exists()
        with pytest.raises(LedgerError, match="already exists"):
            make_archive_key(first.db, tmp_path / "a" / "k.pem", None)
    finally:
        first.close()
