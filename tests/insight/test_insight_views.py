"""Insight pages: who gets which answer, filters in the address, CSV exports, the header link,
empty states, and no script or style inline."""
from __future__ import annotations

import csv
import io
import re

import pytest

from app import clock
from app.extensions import db
from tests.insight.test_insight import build_world


@pytest.fixture
def site(app):
    with app.app_context():
        w = build_world()
        for name in ("adm", "boss", "s1", "s2", "v1", "i1", "c1", "p1", "c3"):
            person = getattr(w, name)
            db.session.refresh(person)
            db.session.expunge(person)
    yield w
    clock.reset()


def page(client, url, status=200):
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.status_code)
    return resp.get_data(as_text=True)


ORG_URLS = ["/insight", "/insight?period=4w", "/insight/participation-weekly.csv"]
COMMUNITY_URLS = ["/c/open/insight", "/c/open/insight/experts-topics.csv"]


@pytest.mark.parametrize("who, org_status, open_status", [
    ("adm", 200, 200),    # admin: everything
    ("boss", 200, 403),   # management: the organisation, not a community it does not manage
    ("s1", 403, 200),     # manager of Open: its dashboard only
    ("v1", 403, 403),     # a plain employee
    ("c1", 404, 404),     # customers and partners never see a dashboard
    ("p1", 404, 404),
])
def test_who_gets_which_dashboard(site, login_as, who, org_status, open_status):
    client = login_as(getattr(site, who))
    for url in ORG_URLS:
        if who == "s1" and not url.endswith(".csv"):
            continue  # a manager without organisation rights gets the list of their communities
        assert client.get(url).status_code == org_status, url
    for url in COMMUNITY_URLS:
        assert client.get(url).status_code == open_status, url


def test_signed_out_people_are_sent_to_sign_in(site, client):
    for url in ORG_URLS + COMMUNITY_URLS:
        assert client.get(url).status_code == 302


def test_a_manager_is_offered_their_communities(site, login_as):
    html = page(login_as(site.s1), "/insight")
    assert 'href="/c/open/insight"' in html and "/c/inside/insight" not in html


def test_header_link_only_for_people_who_may_see(site, login_as, client):
    for who, shown in (("boss", True), ("s1", True), ("v1", False), ("c1", False)):
        html = page(login_as(getattr(site, who)), "/communities")
        assert ('>Insight</a>' in html) is shown, who


def test_organisation_dashboard_shows_figures_charts_tables_and_exports(site, login_as):
    html = page(login_as(site.boss), "/insight?period=4w")
    assert "How social is our organisation?" in html
    assert "Social Business Index" in html and ">65<" in html
    assert 'data-chart="line" data-table="t-participation-weekly"' in html
    assert 'id="t-department-matrix" class="insight-data-table heatmap"' in html
    assert "/insight/idea-funnel.csv?period=4w" in html
    assert "vendor/chart.umd.min.js" in html and "js/insight.js" in html
    assert "<script>" not in html and " style=" not in html and " onclick" not in html
    for section in ("Participation", "Across departments", "Customer voice", "Experts", "Knowledge",
                    "Community health"):
        assert f">{section}</h2>" in html
    # the formula is on the page
    assert "Index = Σ (score × weight) ÷ Σ weight" in html


def test_csv_export_uses_the_same_filters(site, login_as):
    client = login_as(site.boss)
    resp = client.get("/insight/customer-response.csv?period=4w&kind=customer")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["Posted", "Number", "With an official response"]
    assert rows[3][:3] == ["All", "4", "3"]                     # customers only (no partner)
    assert client.get("/insight/nope.csv").status_code == 404
    assert client.get("/insight/participation-weekly.csv?period=bogus").status_code == 400


def test_bad_filters_re_render_with_messages(site, login_as):
    client = login_as(site.boss)
    resp = client.get("/insight?period=custom&start=someday&end=2026-03-01&kind=robots&community=secret-place")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Give the first day as a date" in html and "Choose employees, customers or partners." in html
    assert "Choose a community from the list." in html
    assert 'aria-invalid="true"' in html
    assert "Social Business Index" in html   # the defaults still show figures


def test_empty_period_says_so(site, login_as):
    html = page(login_as(site.boss), "/insight?period=custom&start=2025-06-02&end=2025-06-29")
    assert "Nothing happened in this period" in html
    assert "data-chart=" not in html                          # no empty charts


def test_community_dashboard_for_its_manager(site, login_as):
    client = login_as(site.s1)
    html = page(client, "/c/open/insight?period=4w")
    assert "How social is Open?" in html
    assert "Experts by topic" in html and "Communities from the most" not in html
    assert 'name="community"' not in html
    resp = client.get("/c/open/insight/experts-topics.csv?period=4w")
    body = resp.get_data(as_text=True).lstrip("\ufeff")
    assert re.search(r"^Tents,1,3,2,66\.7,7\.5\r?$", body, re.M)
    assert client.get("/c/inside/insight").status_code == 403
