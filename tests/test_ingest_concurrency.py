"""Concurrent ingestion with real threads: webhook deliveries, some of them repeated, while a
CSV import of overlapping events runs. Every request must succeed (no "database is locked",
no deadlock, no unique violation) and every event must be stored exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import CampaignEvent, Customer
from survey_app.services import csv_import, webhooks
from tests import factories

pytestmark = pytest.mark.slow

THREADS = 6
BATCHES_PER_THREAD = 8
BATCH_SIZE = 40
IMPORT_ROWS = 3000


def delivery_event(batch: int, n: int) -> dict[str, object]:
    return {
        "provider_event_id": f"wh-{batch}-{n}",
        "campaign": "spring-2026",
        # Customers shared between batches and with the import, so upserts race too.
        "customer_id": f"cust-{(batch * BATCH_SIZE + n) % 300}",
        "email": f"c{n}@example.nl",
        "event_type": ("click", "open", "bounce")[n % 3],
        "occurred_at": 1772353020 + n,
    }


def batches_for(thread: int) -> list[int]:
    # Even threads all send batches 0..7 (the same deliveries, replayed); odd threads send their own.
    return list(range(BATCHES_PER_THREAD)) if thread % 2 == 0 else [100 * thread + b for b in range(BATCHES_PER_THREAD)]


def write_import_file(path: Path) -> set[str]:
    ids = set()
    lines = ["provider_event_id,campaign,customer_id,email,event_type,occurred_at"]
    for n in range(IMPORT_ROWS):
        event_id = f"imp-{n}"
        lines.append(f"{event_id},spring-2026,cust-{n % 500},c{n}@example.nl,clicked,2026-03-01T09:00:00Z")
        ids.add(event_id)
    # The import also carries events that the webhooks deliver: stored once, whoever is first.
    for n in range(BATCH_SIZE):
        event = delivery_event(0, n)
        lines.append(f"{event['provider_event_id']},spring-2026,{event['customer_id']},,open,2026-03-01T09:00:00Z")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


def test_imports_and_repeated_deliveries_run_together_and_store_each_event_once(app, tmp_path):
    with app.app_context():
        factories.campaign(key="spring-2026")
        db.session.commit()
        secret = webhooks.create_source("esp", app.config["SECRET_KEY"])
    expected = write_import_file(tmp_path / "events.csv")
    for thread in range(THREADS):
        for batch in batches_for(thread):
            expected.update(f"wh-{batch}-{n}" for n in range(BATCH_SIZE))

    failures: list[str] = []
    inserted = {"webhook": 0, "import": 0}
    lock = threading.Lock()
    start = threading.Barrier(THREADS + 1)

    def deliver(thread: int) -> None:
        client = app.test_client()
        start.wait()
        for batch in batches_for(thread):
            body = json.dumps({"events": [delivery_event(batch, n) for n in range(BATCH_SIZE)]}).encode()
            stamp = str(int(time.time()))
            signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            response = client.post(
                "/api/v1/events",
                data=body,
                headers={
                    "X-Survey-App-Source": "esp",
                    "X-Survey-App-Timestamp": stamp,
                    "X-Survey-App-Signature": f"sha256={signature}",
                },
            )
            with lock:
                if response.status_code != 200:
                    failures.append(f"thread {thread} batch {batch}: {response.status_code} {response.get_data(as_text=True)[:300]}")
                else:
                    inserted["webhook"] += response.get_json()["inserted"]

    def run_import() -> None:
        with app.app_context():
            start.wait()
            try:
                report = csv_import.import_events(tmp_path / "events.csv", source="esp", chunk_size=250)
            except Exception as error:  # the test reports any failure of the thread, whatever it is
                with lock:
                    failures.append(f"import: {error!r}")
                return
            with lock:
                inserted["import"] += report.inserted

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(THREADS)]
    threads.append(threading.Thread(target=run_import))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []

    with app.app_context():
        stored = db.session.execute(select(CampaignEvent.provider_event_id)).scalars().all()
        customers = db.session.execute(select(func.count()).select_from(Customer)).scalar_one()
    assert len(stored) == len(set(stored)) == len(expected)
    assert set(stored) == expected
    assert inserted["webhook"] + inserted["import"] == len(expected)
    assert customers == 500
