from modelyard.catalog.enums import ModelStatus
from tests.support.catalog import create_model
from tests.support.factories import create_user, log_in


def test_published_model_is_public(runtime, client):
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    response = client.get(f"/api/models/{made.id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == ModelStatus.Published
    assert body["versions"][0]["files"][0]["primary"] is True
    log_in(client, owner)
    r = client.post(f"/api/models/{made.id}/unpublish", json={})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    assert client.get(f"/api/models/{made.id}").status_code == 404
