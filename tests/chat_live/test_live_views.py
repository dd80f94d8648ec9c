"""The live discussion pages work without JavaScript: history pages, a plain POST form (a
double submit stores once), threads, editing, deleting, turning a message into a post; and the
page side of live updates (rooms named in the page, the comment fragment, mention links)."""
from __future__ import annotations

import re

from app.extensions import db
from app.models import ChatMessage, Notification, Post, User
from app.services import chat
from app.services.content import posts
from app.services.platform import jobs
from tests.conftest import post


def _messages(app):
    with app.app_context():
        return db.session.query(ChatMessage).order_by(ChatMessage.id).all()


def key_of(html: str) -> str:
    match = re.search(r"<input[^>]*data-chat-key[^>]*>", html)
    assert match, "no message key in the form"
    return re.search(r'value="([^"]*)"', match.group(0)).group(1)


def test_the_channel_works_without_javascript(app, make, login_as):
    alice = make.user("employee", name="Alice")
    c = make.community("open", name="Trail Talk")
    client = login_as(alice)
    page = client.get(f"/c/{c.slug}/chat")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Live discussion" in html and "No messages yet" in html
    key = key_of(html)
    form = {"body": "Hello **everyone**", "key": key}
    sent = post(client, f"/c/{c.slug}/chat", form)
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/c/{c.slug}/chat#m{_messages(app)[0].id}")
    post(client, f"/c/{c.slug}/chat", form)  # the same form sent twice (a double click)
    assert len(_messages(app)) == 1
    html = client.get(f"/c/{c.slug}/chat").get_data(as_text=True)
    assert "<strong>everyone</strong>" in html and "Alice" in html and key_of(html) != key


def test_a_refused_message_keeps_the_text_and_explains(app, make, login_as):
    alice = make.user("employee")
    c = make.community("open")
    client = login_as(alice)
    response = post(client, f"/c/{c.slug}/chat", {"body": "x" * 4001, "key": "abcdefgh-1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "at most 4,000 characters" in html and "x" * 4001 in html
    assert 'aria-invalid="true"' in html and _messages(app) == []


def test_history_pages_link_back_and_forth(app, make, login_as):
    alice = make.user("employee")
    c = make.community("open")
    with app.app_context():
        ids = [chat.post(db.session.get(User, alice.id), c.id, f"message number {i}")[0].id for i in range(60)]
    client = login_as(alice)
    html = client.get(f"/c/{c.slug}/chat").get_data(as_text=True)
    assert "message number 59" in html and "message number 9<" not in html
    older = re.search(r'href="([^"]+before=\d+)"[^>]*>Older messages', html).group(1).replace("&amp;", "&")
    html = client.get(older).get_data(as_text=True)
    assert "message number 0<" in html and "message number 9<" in html and "message number 10<" not in html
    assert "Newer messages" in html and "data-chat-older" not in html
    assert 'data-chat-form' not in html  # the form is on the latest page only
    assert ids


def test_threads_edit_delete_and_access(app, make, login_as):
    alice, bob = make.user("employee", name="Alice"), make.user("employee", name="Bob")
    customer = make.user("customer")
    c = make.community("internal")
    with app.app_context():
        root = chat.post(db.session.get(User, alice.id), c.id, "root message")[0].id
    client = login_as(bob)
    html = client.get(f"/c/{c.slug}/chat/{root}").get_data(as_text=True)
    assert "root message" in html and "Your reply" in html
    response = post(client, f"/c/{c.slug}/chat", {"body": "a reply", "key": key_of(html), "parent_id": str(root)})
    reply_id = _messages(app)[-1].id
    assert response.headers["Location"].endswith(f"/c/{c.slug}/chat/{root}#m{reply_id}")
    assert "1 reply" in client.get(f"/c/{c.slug}/chat").get_data(as_text=True)
    # Bob may not edit or delete Alice's message
    assert client.get(f"/c/{c.slug}/chat/{root}/edit").status_code == 403
    post(client, f"/c/{c.slug}/chat/{root}/delete")
    assert _messages(app)[0].deleted_at is None
    # his own: yes
    assert client.get(f"/c/{c.slug}/chat/{reply_id}/edit").status_code == 200
    assert post(client, f"/c/{c.slug}/chat/{reply_id}/edit", {"body": ""}).status_code == 400
    post(client, f"/c/{c.slug}/chat/{reply_id}/edit", {"body": "a better reply"})
    assert _messages(app)[-1].body == "a better reply"
    post(client, f"/c/{c.slug}/chat/{reply_id}/delete")
    assert _messages(app)[-1].deleted_at is not None
    assert "This message was deleted." in client.get(f"/c/{c.slug}/chat/{root}").get_data(as_text=True)
    # a customer may not see an internal community's channel, nor its messages
    outsider = login_as(customer)
    assert outsider.get(f"/c/{c.slug}/chat").status_code == 404
    assert outsider.get(f"/c/{c.slug}/chat/{root}").status_code == 404
    assert post(outsider, f"/c/{c.slug}/chat", {"body": "let me in", "key": "abcdefgh-2"}).status_code == 404


def test_a_message_from_another_community_is_not_found_under_this_one(app, make, login_as):
    alice = make.user("employee")
    c, other = make.community("open"), make.community("open")
    with app.app_context():
        elsewhere = chat.post(db.session.get(User, alice.id), other.id, "elsewhere")[0].id
    assert login_as(alice).get(f"/c/{c.slug}/chat/{elsewhere}").status_code == 404


def test_promoting_a_message_opens_a_prefilled_post_form(app, make, login_as):
    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    with app.app_context():
        message = chat.post(db.session.get(User, alice.id), c.id, "Let us add **solar** chargers to the shop")[0].id
    assert login_as(bob).get(f"/c/{c.slug}/chat/{message}/promote").status_code == 403
    client = login_as(alice)
    html = client.get(f"/c/{c.slug}/chat/{message}/promote?kind=idea").get_data(as_text=True)
    assert 'value="Let us add solar chargers to the shop"' in html and 'checked id="kind-1" name="kind" required type="radio" value="idea"' in html
    refused = post(client, f"/c/{c.slug}/chat/{message}/promote", {"kind": "idea", "title": "x", "body": "b"})
    assert refused.status_code == 400 and "at least 5 characters" in refused.get_data(as_text=True)
    done = post(client, f"/c/{c.slug}/chat/{message}/promote",
                {"kind": "idea", "title": "Solar chargers in the shop", "body": "From the chat"})
    with app.app_context():
        new_post = db.session.query(Post).one()
        assert done.headers["Location"].endswith(f"/p/{new_post.id}") and new_post.kind.value == "idea"
    assert "Became a post" in client.get(f"/c/{c.slug}/chat").get_data(as_text=True)


def test_a_chat_mention_notification_leads_to_the_message(app, make, login_as):
    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    with app.app_context():
        message = chat.post(db.session.get(User, alice.id), c.id, f"Ask @{bob.handle}")[0].id
        jobs.drain()
        note = db.session.query(Notification).filter_by(user_id=bob.id).one().id
    client = login_as(bob)
    response = client.get(f"/chat/mentions/{note}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#m{message}")
    assert login_as(alice).get(f"/chat/mentions/{note}").status_code == 404


def test_pages_name_their_rooms_for_the_live_script(app, make, login_as):
    alice = make.user("employee")
    c = make.community("open")
    with app.app_context():
        post_id = posts.create(db.session.get(User, alice.id), c.slug, "discussion", "Hello there", "x").id
    client = login_as(alice)
    meta = re.compile(r'<meta name="kring-live" content="([^"]*)" data-user-id="(\d+)">')
    assert meta.search(client.get(f"/p/{post_id}").get_data(as_text=True)).group(1) == f"post:{post_id}"
    assert meta.search(client.get(f"/c/{c.slug}").get_data(as_text=True)).group(1) == f"community:{c.id}"
    home = client.get("/").get_data(as_text=True)
    assert meta.search(home).groups() == ("", str(alice.id))
    assert "vendor/socket.io.min.js" in home and "js/live.js" in home
    chat_page = client.get(f"/c/{c.slug}/chat").get_data(as_text=True)
    assert f'data-room="community:{c.id}"' in chat_page
    anonymous = app.test_client().get("/signin").get_data(as_text=True)
    assert "kring-live" not in anonymous and "live.js" not in anonymous


def test_the_comment_fragment_is_the_viewers_own_and_guarded(app, make, login_as):
    from app.services.content import comments

    alice, bob = make.user("employee"), make.user("employee")
    customer = make.user("customer")
    c = make.community("internal")
    with app.app_context():
        post_id = posts.create(db.session.get(User, alice.id), c.slug, "discussion", "Hello there", "x").id
        comment_id = comments.add(db.session.get(User, bob.id), post_id, "Hi <script>x()</script>**you**").id
    html = login_as(alice).get(f"/live/p/{post_id}/comments").get_data(as_text=True)
    assert f'id="c{comment_id}"' in html and "<strong>you</strong>" in html and "<script>x()" not in html
    assert login_as(customer).get(f"/live/p/{post_id}/comments").status_code == 404


def test_the_vote_box_fragment_is_the_viewers_own_and_guarded(app, make, login_as):
    """What live.js puts in place after idea.voted: the count for everyone, the viewer's own
    vote, and the voter breakdown only for those who may see voters."""
    from app.services.content import ideas

    manager = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=manager)
    voter, reader = make.user("customer", organisation="Camp Co"), make.user("customer")
    secret = make.community("internal")
    with app.app_context():
        idea_id = posts.create(db.session.get(User, manager.id), c.slug, "idea", "Bigger tents", "x").id
        talk_id = posts.create(db.session.get(User, manager.id), c.slug, "discussion", "Just talk", "x").id
        hidden_id = posts.create(db.session.get(User, manager.id), secret.slug, "idea", "Staff only", "x").id
        ideas.toggle_vote(db.session.get(User, voter.id), idea_id)
    boxes = {who: login_as(who).get(f"/live/p/{idea_id}/idea") for who in (manager, voter, reader)}
    assert all(r.status_code == 200 and r.headers["Cache-Control"] == "no-store" for r in boxes.values())
    html = {who: r.get_data(as_text=True) for who, r in boxes.items()}
    assert all(re.search(r'class="vote-total"><strong>1</strong>', h) for h in html.values())
    assert "1 customer" in html[manager] and "Camp Co (1)" in html[manager] and "See who voted" in html[manager]
    assert "1 customer" not in html[reader] and "Camp Co" not in html[reader] and "See who voted" not in html[reader]
    assert 'aria-pressed="true"' in html[voter] and 'aria-pressed="false"' in html[reader]
    assert login_as(reader).get(f"/live/p/{talk_id}/idea").status_code == 404  # not an idea
    assert login_as(reader).get(f"/live/p/{hidden_id}/idea").status_code == 404  # not readable
