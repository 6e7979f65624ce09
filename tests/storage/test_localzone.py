"""The zone recorder clocks are read in: the setting, else the machine's, else UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage.config import Settings
from storage.db import Database, alembic_config, migrate
from storage.localzone import describe, local_zone, machine_zone, offset_name

ZONEINFO = Path("/usr/share/zoneinfo")
NOWHERE = Path("/nonexistent/localtime")


def _needs_zoneinfo() -> None:
    if not (ZONEINFO / "Asia" / "Shanghai").exists():
        pytest.skip("no system zone database at /usr/share/zoneinfo")


def test_unset_setting_defaults_to_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUSTOS_LOCAL_TIMEZONE", raising=False)
    assert Settings().local_timezone is None


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="Asia/Shanghia"):
        local_zone("Asia/Shanghia")


def test_setting_wins() -> None:
    zone = local_zone("Asia/Shanghai", environ={"TZ": "Europe/Berlin"})
    assert (zone.name, zone.basis, zone.note) == ("Asia/Shanghai", "setting", None)


@pytest.mark.parametrize(
    ("tz", "name", "hours"),
    [
        ("Asia/Shanghai", "Asia/Shanghai", 8),
        (":Asia/Shanghai", "Asia/Shanghai", 8),
        ("/usr/share/zoneinfo/Asia/Shanghai", "Asia/Shanghai", 8),
        ("CST-8", "+08:00", 8),
        ("UTC0", "UTC", 0),
        ("", "UTC", 0),
    ],
)
def test_tz_variable(tz: str, name: str, hours: int) -> None:
    if "/" in tz:
        _needs_zoneinfo()
    found = machine_zone({"TZ": tz}, localtime=NOWHERE, timezone_file=NOWHERE)
    assert found is not None
    assert found[1] == name
    assert datetime(2026, 11, 3, 14, tzinfo=found[0]).utcoffset() == timedelta(hours=hours)


def test_etc_localtime_link_names_the_zone(tmp_path: Path) -> None:
    _needs_zoneinfo()
    link = tmp_path / "localtime"
    link.symlink_to(ZONEINFO / "Asia" / "Shanghai")
    zone = local_zone(None, environ={}, localtime=link, timezone_file=NOWHERE)
    assert (zone.name, zone.basis) == ("Asia/Shanghai", "machine")
    moment = datetime(2026, 11, 3, 14, 15, tzinfo=zone.tz)
    assert moment.astimezone(UTC) == datetime(2026, 11, 3, 6, 15, tzinfo=UTC)


def test_copied_localtime_is_named_by_etc_timezone(tmp_path: Path) -> None:
    _needs_zoneinfo()
    copy = tmp_path / "localtime"
    copy.write_bytes((ZONEINFO / "Asia" / "Shanghai").read_bytes())
    named = tmp_path / "timezone"
    named.write_text("Asia/Shanghai\n")
    assert local_zone(None, environ={}, localtime=copy, timezone_file=named).name == (
        "Asia/Shanghai"
    )
    # Without /etc/timezone the copy still gives the right offsets, named by its path.
    zone = local_zone(None, environ={}, localtime=copy, timezone_file=NOWHERE)
    assert (zone.name, zone.basis) == (str(copy), "machine")
    assert datetime(2026, 11, 3, tzinfo=zone.tz).utcoffset() == timedelta(hours=8)


def test_unreadable_machine_zone_falls_back_to_utc_with_a_note() -> None:
    zone = local_zone(None, environ={"TZ": "Not/AZone"}, localtime=NOWHERE, timezone_file=NOWHERE)
    assert (zone.name, zone.basis) == ("UTC", "fallback")
    assert zone.note is not None and "CUSTOS_LOCAL_TIMEZONE" in zone.note
    assert describe(zone.name, zone.basis) == "UTC (assumed: machine zone unknown)"


def test_describe_and_offset_names() -> None:
    assert describe("Asia/Shanghai", "machine") == "Asia/Shanghai (assumed: machine zone)"
    assert describe(None, None) is None
    eight = datetime(2026, 1, 1, tzinfo=UTC).astimezone(local_zone("Asia/Shanghai").tz)
    assert offset_name(eight) == "+08:00"
    assert offset_name(datetime(2026, 1, 1, tzinfo=UTC)) == "UTC"


def test_migration_adds_zone_columns_to_an_existing_database(tmp_path: Path) -> None:
    from alembic import command

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with db.engine.connect() as connection:
            cfg = alembic_config(db.url)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0001")  # a database from before the zone was recorded
            connection.commit()
        assert "capture_zone" not in {
            c["name"] for c in inspect(db.engine).get_columns("recordings")
        }
        migrate(db)
        columns = {c["name"] for c in inspect(db.engine).get_columns("recordings")}
        assert {"capture_zone", "capture_zone_basis"} <= columns
        with db.engine.connect() as connection:
            heads = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            assert "0008" in set(heads)
    finally:
        db.dispose()
