"""The review page in a real browser (Debian chromium + chromedriver, driven by Selenium)."""

from __future__ import annotations

import shutil

import pytest

from teacherforge.datagen.review import ReviewStore, create_review_app
from teacherforge.workspace import atomic_write_jsonl, read_jsonl
from tests.serve._serving import serving


def _record(rid: str, status: str, answer: str) -> dict:
    return {
        "id": rid,
        "created_at": "2026-11-23T00:00:00+00:00",
        "domain": "apollo13",
        "input": f"question {rid}?",
        "response": answer,
        "retrieved": [{"chunk_id": f"doc-{rid}", "score": 0.8, "rank": 1}],
        "metadata": {
            "generation_method": "rag_teacher",
            "review_status": status,
            "tags": ["low_confidence"],
            "quality_score": 0.3,
        },
        "trace": {"parent_id": f"q-{rid}", "processing_steps": []},
    }


@pytest.fixture
def run_dir(tmp_path):
    atomic_write_jsonl(
        tmp_path / "teacher.jsonl",
        [
            _record("a", "pending", "Aquarius"),
            _record("b", "pending", "made-up answer"),
            _record("c", "auto", "ok"),
        ],
    )
    return tmp_path


def test_store_decisions_are_atomic_and_traced(run_dir):
    store = ReviewStore(run_dir)
    assert [r["id"] for r in store.pending()] == ["a", "b"]
    store.decide("b", "edit", "Odyssey")
    record = next(r for r in read_jsonl(run_dir / "teacher.jsonl") if r["id"] == "b")
    assert record["response"] == "Odyssey" and record["metadata"]["review_status"] == "approved"
    assert record["trace"]["processing_steps"][-1]["params"]["previous_response"] == "made-up answer"
    with pytest.raises(KeyError):
        store.decide("zzz", "approve")
    with pytest.raises(ValueError):
        store.decide("a", "edit", "  ")


def _wait_for_text(driver, locator, text: str, timeout: float = 15.0) -> None:
    """Wait until the element at ``locator`` shows ``text``: a click submits a form and the page
    reloads, so an element found right after the click may be the old page's (stale)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def shows(d) -> bool:
        try:
            return text in d.find_element(*locator).text
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    WebDriverWait(driver, timeout).until(shows, f"{locator} never showed {text!r}")


@pytest.mark.slow
def test_browser_approves_one_record_and_rejects_another(run_dir):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("Debian chromium + chromium-driver are needed (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(arg)
    with serving(create_review_app(run_dir)) as url:
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            driver.get(url)
            assert "Teacher records to review (2)" in driver.page_source
            driver.find_element(By.ID, "approve-a").click()
            _wait_for_text(driver, (By.CLASS_NAME, "msg"), "approved a")
            driver.find_element(By.ID, "reject-b").click()
            _wait_for_text(driver, (By.CLASS_NAME, "msg"), "rejected b")
            _wait_for_text(driver, (By.ID, "empty"), "Nothing to review.")
        finally:
            driver.quit()
    statuses = {r["id"]: r["metadata"]["review_status"] for r in read_jsonl(run_dir / "teacher.jsonl")}
    assert statuses == {"a": "approved", "b": "rejected", "c": "auto"}
