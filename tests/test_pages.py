"""Response headers and escaping on every page."""

from __future__ import annotations

from survey_app.extensions import db
from survey_app.services.users import create_user
from tests import factories


def test_every_page_sends_the_security_headers(client):
    for path in ("/auth/login", "/does-not-exist"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_views_own_security_header_is_kept_and_the_others_added(app, client):
    @app.get("/test-own-frame-policy")
    def framed() -> tuple[str, dict[str, str]]:
        return "framed", {"x-frame-options": "SAMEORIGIN"}

    response = client.get("/test-own-frame-policy")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_unknown_pages_get_a_404_page(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert "Not Found" in response.get_data(as_text=True)


def test_campaign_names_from_imports_are_escaped_on_the_dashboard(app, client):
    with app.app_context():
        create_user("r@example.com", "a long enough password")
        factories.campaign(name='<script>alert("x")</script>', promise="<b>gratis</b> dag")
        db.session.commit()
    client.post("/auth/login", data={"email": "r@example.com", "password": "a long enough password"})
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;gratis&lt;/b&gt;" in page
