/* Kring live: the one module that wires pages to Socket.IO events (socket.io-client from
 * app/static/vendor/socket.io.min.js). Every page works without it; this makes it live.
 *
 * - Connects once per page for a signed-in person. The server decides the rooms: the page
 *   names them (meta[name=kring-live], [data-chat][data-room]) with the last id it has, in
 *   the connect `auth` payload, on every (re)connect; the server replays what was missed.
 * - Header: the unread notification count, and the notification list, update live.
 * - Community page: new posts are announced above the list; votes and idea statuses update.
 * - Post page: new, edited and removed comments, and the accepted answer, are fetched
 *   server-rendered for this person (/live/p/<id>/comments) and put in place; the vote box
 *   (with the voter breakdown, /live/p/<id>/idea) and the official response update.
 * - Live discussion (chat) pages: messages arrive, are sent with an idempotency key and
 *   retried until acknowledged, typing indicators and who is here now.
 *
 * Safety: user text is only ever set with textContent; HTML inserted with innerHTML is
 * server-rendered and sanitised (body_html/response_html from nh3, or fragments of our own
 * pages). No inline script or style (the Content-Security-Policy forbids them).
 */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="kring-live"]');
  if (!meta || typeof window.io !== "function") return;

  var me = Number(meta.getAttribute("data-user-id")) || 0;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var chatEl = document.querySelector("[data-chat]");
  var postRoom = null;
  var rooms = {};   // room -> function returning its cursor for the auth payload (or null)

  /* --- small helpers ------------------------------------------------------------------- */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function ago(iso) {
    var then = Date.parse(iso);
    if (isNaN(then)) return "";
    var s = Math.max(0, Math.floor((Date.now() - then) / 1000));
    if (s < 60) return "just now";
    if (s < 3600) return plural(Math.floor(s / 60), "minute", "minutes") + " ago";
    if (s < 86400) return plural(Math.floor(s / 3600), "hour", "hours") + " ago";
    if (s < 86400 * 30) return plural(Math.floor(s / 86400), "day", "days") + " ago";
    return new Date(then).toLocaleDateString();
  }

  function timeEl(iso) {
    var t = el("time", null, ago(iso));
    t.setAttribute("datetime", iso);
    t.setAttribute("data-live-time", "");
    return t;
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var a = new Uint32Array(4);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (n) { return n.toString(16); }).join("-");
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 160;
  }

  function sanitisedHTML(node, html) {
    node.innerHTML = html; // server-rendered and sanitised (nh3) before it was stored
  }

  /* --- a status bar: connection state and who is here (pages without a chat) ------------ */
  var bar = null;
  function liveBar() {
    if (bar) return bar;
    var main = document.getElementById("main");
    if (!main) return null;
    bar = el("div", "live-bar small muted");
    bar.setAttribute("role", "status");
    bar.appendChild(el("span", "live-bar-presence"));
    bar.appendChild(el("span", "live-bar-typing"));
    bar.appendChild(el("span", "live-bar-state"));
    var flashes = main.querySelector(".flashes");
    main.insertBefore(bar, flashes ? flashes.nextSibling : main.firstChild);
    return bar;
  }

  function setState(text) {
    var spots = document.querySelectorAll("[data-live-state]");
    for (var i = 0; i < spots.length; i++) spots[i].textContent = text;
    if (!chatEl && (postRoom || Object.keys(rooms).length)) {
      var b = liveBar();
      if (b) b.querySelector(".live-bar-state").textContent = text;
    }
  }

  /* --- rooms this page joins ------------------------------------------------------------ */
  var named = (meta.getAttribute("content") || "").split(/\s+/).filter(Boolean);
  named.forEach(function (room) {
    if (/^post:\d+$/.test(room)) {
      postRoom = room;
      rooms[room] = function () { return { after: lastCommentId() }; };
    } else if (/^community:\d+$/.test(room)) {
      rooms[room] = function () { return null; };
    }
  });

  function lastCommentId() {
    var max = 0;
    var articles = document.querySelectorAll("article.comment[id^=c]");
    for (var i = 0; i < articles.length; i++) {
      var n = Number(articles[i].id.slice(1));
      if (n > max) max = n;
    }
    return max;
  }

  /* chat room cursor: the newest id seen, and the ids seen lately (which may arrive out of order) */
  var chat = null;
  if (chatEl) {
    chat = {
      room: chatEl.getAttribute("data-room"),
      slug: chatEl.getAttribute("data-slug"),
      thread: Number(chatEl.getAttribute("data-thread")) || null,
      latest: chatEl.getAttribute("data-latest") === "1",
      mod: chatEl.getAttribute("data-can-moderate") === "1",
      after: Number(chatEl.getAttribute("data-last-id")) || 0,
      recent: [],
      log: chatEl.querySelector("[data-chat-log]"),
      form: chatEl.querySelector("[data-chat-form]"),
      pending: []
    };
    rooms[chat.room] = function () {
      return chat.latest ? { after: chat.after, have: chat.recent.slice(-100) } : null;
    };
  }

  function seen(id) {
    if (!chat) return;
    if (id > chat.after) chat.after = id;
    chat.recent.push(id);
    if (chat.recent.length > 200) chat.recent = chat.recent.slice(-100);
  }

  function cursors() {
    var out = {};
    Object.keys(rooms).forEach(function (room) { out[room] = rooms[room](); });
    return out;
  }

  /* --- the connection ------------------------------------------------------------------- */
  var socket = window.io({
    transports: ["websocket", "polling"],
    tryAllTransports: true,
    auth: function (cb) { cb({ rooms: cursors() }); }
  });
  window.kringLive = { socket: socket };  // for people debugging (and the browser tests)

  socket.on("connect", function () {
    setState("");
    if (chat) chat.pending.forEach(trySend);
  });
  socket.on("disconnect", function (reason) {
    if (reason === "io server disconnect") {
      setState("Live updates stopped. Reload the page to continue.");
    } else {
      setState("Offline — reconnecting…");
    }
  });
  socket.on("connect_error", function () { setState("Offline — reconnecting…"); });
  socket.on("session.ended", function () { setState("You were signed out. Reload the page to sign in again."); });
  /* several events of one room committed together come as one frame: handle each in turn */
  socket.on("live.batch", function (batch) {
    (batch && Array.isArray(batch.events) ? batch.events : []).forEach(function (e) {
      if (!Array.isArray(e) || e.length !== 2) return;
      socket.listeners(e[0]).forEach(function (handler) { handler(e[1]); });
    });
  });
  socket.on("replay.truncated", function () {
    setState("A lot happened while you were away: reload the page to see it all.");
  });

  /* --- notifications (every page) -------------------------------------------------------- */
  function setUnread(n) {
    var link = document.querySelector('.main-nav a[href$="/notifications"]');
    if (!link) return;
    link.textContent = "Notifications";
    if (n > 0) {
      var count = el("span", "nav-count", "(" + n);
      count.appendChild(el("span", "visually-hidden", " unread"));
      count.appendChild(document.createTextNode(")"));
      link.appendChild(document.createTextNode(" "));
      link.appendChild(count);
    }
  }

  function setUnreadLine(n) {
    var line = document.querySelector("ol.notification-list");
    line = line ? line.previousElementSibling : null;
    if (!line || !line.classList.contains("muted")) return;
    var text = line.textContent;
    var rest = text.replace(/^\s*(\d+ unread\.|You are all caught up\.)/, "");
    if (rest !== text) line.textContent = (n ? n + " unread." : "You are all caught up.") + rest;
  }

  socket.on("notification.read", function (data) {
    setUnread(Number(data.unread) || 0);
    setUnreadLine(Number(data.unread) || 0);
  });
  socket.on("notification.created", function (data) {
    setUnread(Number(data.unread) || 0);
    setUnreadLine(Number(data.unread) || 0);
    var list = document.querySelector("ol.notification-list");
    var n = data.notification;
    if (!list || !n || document.querySelector("[data-notification-id='" + n.id + "']")) return;
    var li = el("li", "notification card is-unread");
    li.setAttribute("data-notification-id", n.id);
    var avatar = el("span", "avatar avatar-initials avatar-40", "◎");
    avatar.setAttribute("aria-hidden", "true");
    li.appendChild(avatar);
    var main = el("div", "notification-main");
    var form = el("form");
    form.method = "post";
    form.action = n.open_url;
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrf;
    form.appendChild(token);
    var button = el("button", "link-button notification-open");
    button.type = "submit";
    button.appendChild(el("span", "visually-hidden", "Unread: "));
    button.appendChild(document.createTextNode(n.text));
    form.appendChild(button);
    main.appendChild(form);
    var when = el("p", "small muted");
    var badge = el("span", "badge badge-unread", "New");
    badge.setAttribute("aria-hidden", "true");
    when.appendChild(badge);
    when.appendChild(document.createTextNode(" "));
    when.appendChild(timeEl(n.created_at));
    main.appendChild(when);
    li.appendChild(main);
    var empty = list.querySelector("li.muted");
    if (empty) empty.remove();
    list.insertBefore(li, list.firstChild);
  });

  /* --- presence and typing ---------------------------------------------------------------- */
  var presence = {};  // room -> {id: person}
  var typing = {};    // room -> {id: {name, timer}}

  function renderPresence(room) {
    var people = presence[room] || {};
    var ids = Object.keys(people);
    if (chat && room === chat.room) {
      var list = chatEl.ownerDocument.querySelector("[data-presence]");
      var count = document.querySelector("[data-presence-count]");
      if (count) count.textContent = plural(ids.length, "person", "people");
      if (!list) return;
      list.textContent = "";
      ids.forEach(function (id) {
        var p = people[id];
        var li = el("li", "person small");
        li.setAttribute("data-user-id", id);
        var a = el("span", "avatar avatar-initials avatar-28", p.initial || "?");
        a.setAttribute("aria-hidden", "true");
        li.appendChild(a);
        var link = el("a", null, p.name);
        link.href = "/people/" + encodeURIComponent(p.handle);
        li.appendChild(link);
        list.appendChild(li);
      });
      return;
    }
    var b = liveBar();
    if (!b) return;
    var others = ids.filter(function (id) { return Number(id) !== me; }).length;
    b.querySelector(".live-bar-presence").textContent =
      others ? plural(others, "other person", "other people") + " here now" : "";
  }

  socket.on("presence.state", function (data) {
    var map = {};
    (data.people || []).forEach(function (p) { map[p.id] = p; });
    presence[data.room] = map;
    renderPresence(data.room);
  });
  socket.on("presence.joined", function (data) {
    if (!data.user) return;
    (presence[data.room] = presence[data.room] || {})[data.user.id] = data.user;
    renderPresence(data.room);
  });
  socket.on("presence.left", function (data) {
    if (presence[data.room]) delete presence[data.room][data.user_id];
    clearTyping(data.room, data.user_id);
    renderPresence(data.room);
  });

  function typingSpot(room) {
    if (chat && room === chat.room) return chatEl.querySelector("[data-typing]");
    var b = liveBar();
    return b ? b.querySelector(".live-bar-typing") : null;
  }

  function renderTyping(room) {
    var spot = typingSpot(room);
    if (!spot) return;
    var names = Object.keys(typing[room] || {}).map(function (id) { return typing[room][id].name; });
    var what = chat && room === chat.room ? "" : " a comment";
    if (!names.length) spot.textContent = "";
    else if (names.length === 1) spot.textContent = names[0] + " is typing" + what + "…";
    else if (names.length === 2) spot.textContent = names[0] + " and " + names[1] + " are typing…";
    else spot.textContent = names.length + " people are typing…";
  }

  function clearTyping(room, id) {
    if (typing[room] && typing[room][id]) {
      clearTimeout(typing[room][id].timer);
      delete typing[room][id];
      renderTyping(room);
    }
  }

  socket.on("typing", function (data) {
    if (!data.user || data.user.id === me) return;
    if (chat && data.room === chat.room && (data.thread || null) !== chat.thread) return;
    var room = data.room;
    clearTyping(room, data.user.id);
    if (data.typing) {
      typing[room] = typing[room] || {};
      typing[room][data.user.id] = {
        name: data.user.name,
        timer: setTimeout(function () { clearTyping(room, data.user.id); }, 6000)
      };
    }
    renderTyping(room);
  });

  function watchTyping(input, room, thread) {
    var last = 0, idle = null;
    function send(state) {
      if (!socket.connected) return;
      socket.emit("typing", { room: room, typing: state, thread: thread || null });
    }
    input.addEventListener("input", function () {
      var now = Date.now();
      if (now - last > 3000) { last = now; send(true); }
      clearTimeout(idle);
      idle = setTimeout(function () { last = 0; send(false); }, 5000);
    });
    return function stop() { clearTimeout(idle); last = 0; send(false); };
  }

  /* --- community page: new posts, votes, statuses ----------------------------------------- */
  function postCard(postId) {
    var link = document.querySelector('.post-list a[href="/p/' + postId + '"]');
    return link ? link.closest(".post-card") : null;
  }

  function newsBox() {
    var list = document.querySelector("ol.post-list");
    if (!list) return null;
    var box = document.querySelector(".live-new-posts");
    if (!box) {
      box = el("div", "live-new-posts card");
      box.setAttribute("role", "status");
      box.appendChild(el("p", "live-new-posts-title", "New while you were here:"));
      box.appendChild(el("ul", "plain"));
      list.parentNode.insertBefore(box, list);
    }
    return box;
  }

  socket.on("expert.assigned", function (data) {
    if (rooms[data.room] === undefined || !data.expert) return;
    var box = newsBox();
    if (box) box.querySelector("ul").appendChild(el("li", null, data.expert.name + " is now an expert of “" + data.topic + "”."));
  });

  socket.on("post.created", function (data) {
    if (rooms[data.room] === undefined || postCard(data.post_id)) return;
    var box = newsBox();
    if (!box) return;
    var li = el("li");
    li.setAttribute("data-post-id", data.post_id);
    var badge = el("span", "badge badge-kind-" + data.kind, data.kind.charAt(0).toUpperCase() + data.kind.slice(1));
    li.appendChild(badge);
    li.appendChild(document.createTextNode(" "));
    var a = el("a", null, data.title);
    a.href = data.url;
    li.appendChild(a);
    if (data.author) li.appendChild(el("span", "muted small", " by " + data.author.name));
    box.querySelector("ul").appendChild(li);
  });

  function setVotes(strong, label, n) {
    if (strong) strong.textContent = String(n);
    if (label) label.textContent = n === 1 ? "vote" : "votes";
  }

  /* the vote box as this person sees it (their vote, and the voter breakdown when they may
     see voters), fetched server-rendered after votes changed */
  var voteTimer = null;
  function refreshVoteBox(postId) {
    clearTimeout(voteTimer);
    voteTimer = setTimeout(function () {
      fetch("/live/p/" + postId + "/idea", { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) return;
          var tpl = document.createElement("template");
          tpl.innerHTML = html; // our own server-rendered page fragment
          var fresh = tpl.content.querySelector("#idea .vote-box");
          var now = document.querySelector("#idea .vote-box");
          if (!fresh || !now) return;
          var focused = document.activeElement && now.contains(document.activeElement);
          var box = document.importNode(fresh, true);
          now.replaceWith(box);
          if (focused) {
            var button = box.querySelector(".vote-button");
            if (button) button.focus();
          }
        })
        .catch(function () {});
    }, 150);
  }

  socket.on("idea.voted", function (data) {
    if (postRoom === "post:" + data.post_id) {
      var total = document.querySelector("#idea .vote-total");
      if (total) setVotes(total.querySelector("strong"), total.querySelector("span"), data.vote_count);
      if (data.voter_id === me) {
        var button = document.querySelector("#idea .vote-button");
        if (button) button.setAttribute("aria-pressed", data.voted ? "true" : "false");
        var hint = document.getElementById("vote-hint");
        if (hint) hint.textContent = data.voted ? "You voted. Press again to undo." : "One vote per person.";
      }
      refreshVoteBox(data.post_id);
      return;
    }
    var card = postCard(data.post_id);
    if (card) {
      var stat = card.querySelector(".post-stats .stat");
      if (stat) {
        var strong = stat.querySelector("strong");
        setVotes(strong, null, data.vote_count);
        if (strong && strong.nextSibling) strong.nextSibling.textContent = data.vote_count === 1 ? " vote" : " votes";
      }
      var spoken = card.querySelector("[data-sr-votes]");  // what a screen reader reads
      if (spoken) spoken.textContent = plural(data.vote_count, "vote", "votes");
    }
  });

  function setStatusBadge(badge, status, label) {
    if (!badge) return;
    badge.className = badge.className.replace(/badge-status-[a-z_]+/, "badge-status-" + status);
    badge.textContent = label;
  }

  socket.on("idea.status_changed", function (data) {
    if (postRoom === "post:" + data.post_id) {
      setStatusBadge(document.querySelector(".post-meta [class*='badge-status-']"), data.status, data.status_label);
      var banner = document.querySelector("#idea .status-banner");
      if (!banner) return;
      banner.className = banner.className.replace(/\bstatus-(?!banner\b)[a-z_]+/, "status-" + data.status);
      setStatusBadge(banner.querySelector(".status-line .badge"), data.status, data.status_label);
      var box = el("div", "official-response");
      var who = el("p", "person small");
      if (data.actor) {
        var av = el("span", "avatar avatar-initials avatar-28", data.actor.initial);
        av.setAttribute("aria-hidden", "true");
        who.appendChild(av);
      }
      var line = el("span");
      line.appendChild(el("strong", null, "Official response"));
      line.appendChild(document.createTextNode(" by "));
      if (data.actor) {
        var link = el("a", null, data.actor.name);
        link.href = "/people/" + encodeURIComponent(data.actor.handle);
        line.appendChild(link);
      } else {
        line.appendChild(document.createTextNode("a former member"));
      }
      line.appendChild(document.createTextNode(" · "));
      line.appendChild(timeEl(data.created_at));
      who.appendChild(line);
      box.appendChild(who);
      var prose = el("div", "prose");
      sanitisedHTML(prose, data.response_html);
      box.appendChild(prose);
      var old = banner.querySelector(".official-response") || banner.querySelector(":scope > p.small.muted");
      if (old) old.replaceWith(box); else banner.appendChild(box);
      return;
    }
    var card = postCard(data.post_id);
    if (card) setStatusBadge(card.querySelector("[class*='badge-status-']"), data.status, data.status_label);
  });

  /* --- post page: comments ---------------------------------------------------------------- */
  var changes = [];
  var refreshTimer = null;

  function queueComments(kind) {
    return function (data) {
      if (postRoom !== "post:" + data.post_id) return;
      if (kind === "added" && document.getElementById("c" + data.comment_id)) return;
      changes.push({ kind: kind, id: data.comment_id, parent: data.parent_id });
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refreshComments, 250);
    };
  }
  socket.on("comment.added", queueComments("added"));
  socket.on("comment.updated", queueComments("updated"));
  socket.on("comment.removed", queueComments("removed"));
  socket.on("comment.hidden", queueComments("removed"));
  /* the accepted answer changed: both answers are rendered again (mark and buttons) */
  socket.on("answer.accepted", function (data) {
    var update = queueComments("updated");
    [data.comment_id, data.previous_id].forEach(function (id) {
      if (id) update({ post_id: data.post_id, comment_id: id, parent_id: null });
    });
  });

  function refreshComments() {
    var todo = changes;
    changes = [];
    var postId = postRoom.split(":")[1];
    fetch("/live/p/" + postId + "/comments", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html) applyComments(html, todo); })
      .catch(function () { changes = todo.concat(changes); });
  }

  function applyComments(html, todo) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html; // our own server-rendered page fragment (bodies sanitised with nh3)
    var fresh = tpl.content.querySelector("#comments");
    var live = document.getElementById("comments");
    if (!fresh || !live) return;
    var title = live.querySelector("#comments-title");
    var freshTitle = fresh.querySelector("#comments-title");
    if (title && freshTitle) title.textContent = freshTitle.textContent;
    todo.forEach(function (change) {
      var now = document.getElementById("c" + change.id);
      var next = fresh.querySelector("#c" + change.id);
      if (change.kind !== "added") {
        if (now && next) now.replaceWith(document.importNode(next, true));
        else if (now && !next) now.closest("li").remove();
        return;
      }
      if (now || !next) return;
      var item = document.importNode(next.closest("li"), true);
      item.classList.add("is-new");
      var list = live.querySelector("ol.comment-list");
      if (!list) {
        var freshList = fresh.querySelector("ol.comment-list");
        if (!freshList || !title) return;
        list = document.importNode(freshList, false);
        var empty = title.nextElementSibling;
        if (empty && empty.tagName === "P") empty.remove();
        title.insertAdjacentElement("afterend", list);
      }
      if (!change.parent) {
        list.appendChild(item);
        return;
      }
      var parent = document.getElementById("c" + change.parent);
      var thread = parent ? parent.closest("li.comment-thread") : null;
      if (!thread) { list.appendChild(item); return; }
      var replies = thread.querySelector("ol.comment-replies");
      if (!replies) {
        var model = next.closest("ol.comment-replies");
        replies = model ? document.importNode(model, false) : el("ol", "comment-replies plain");
        thread.appendChild(replies);
      }
      replies.appendChild(item);
    });
  }

  if (postRoom) {
    var commentBox = document.getElementById("comment-body");
    if (commentBox) {
      var stopComment = watchTyping(commentBox, postRoom, null);
      if (commentBox.form) commentBox.form.addEventListener("submit", stopComment);
    }
  }

  /* --- the live discussion ---------------------------------------------------------------- */
  function threadUrl(id) { return "/c/" + encodeURIComponent(chat.slug) + "/chat/" + id; }

  function deleteForm(m) {
    var form = el("form", "inline-form chat-delete-form");
    form.method = "post";
    form.action = threadUrl(m.id) + "/delete";
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrf;
    form.appendChild(token);
    var button = el("button", "link-button chat-delete", "Delete");
    button.type = "submit";
    button.setAttribute("data-confirm", "Delete this message?");
    button.appendChild(el("span", "visually-hidden", " this message"));
    form.appendChild(button);
    return form;
  }

  function buildMessage(m) {
    var own = m.author && m.author.id === me;
    var li = el("li", "chat-message" + (m.deleted ? " is-deleted" : "") + (own ? " is-own" : ""));
    li.id = "m" + m.id;
    li.setAttribute("data-id", m.id);
    li.setAttribute("data-author-id", m.author ? m.author.id : "");
    var avatarBox = el("div", "chat-avatar");
    if (m.author && m.author.avatar) {
      var img = el("img", "avatar");
      img.src = m.author.avatar;
      img.alt = "";
      img.width = 28;
      img.height = 28;
      avatarBox.appendChild(img);
    } else {
      var initial = el("span", "avatar avatar-initials avatar-28", m.author ? m.author.initial : "?");
      initial.setAttribute("aria-hidden", "true");
      avatarBox.appendChild(initial);
    }
    li.appendChild(avatarBox);
    var main = el("div", "chat-main");
    var head = el("p", "chat-meta small");
    if (m.author) {
      var name = el("a", "person-name", m.author.name);
      name.href = "/people/" + encodeURIComponent(m.author.handle);
      head.appendChild(name);
      if (m.author.kind && m.author.kind !== "employee") {
        head.appendChild(document.createTextNode(" "));
        head.appendChild(el("span", "badge badge-" + m.author.kind, m.author.kind.charAt(0).toUpperCase() + m.author.kind.slice(1)));
      }
    } else {
      head.appendChild(el("span", "person-name", "A former member"));
    }
    head.appendChild(document.createTextNode(" "));
    var when = el("a", "chat-time muted");
    when.href = threadUrl(m.parent_id || m.id) + "#m" + m.id;
    when.appendChild(timeEl(m.created_at));
    head.appendChild(when);
    if (m.edited_at && !m.deleted) {
      head.appendChild(document.createTextNode(" "));
      head.appendChild(el("span", "muted chat-edited", "(edited)"));
    }
    main.appendChild(head);
    if (m.hidden) {
      var gone = el("p", "chat-deleted muted", "This message was hidden by a moderator.");
      if (chat.mod) {
        gone.appendChild(document.createTextNode(" "));
        var see = el("a", null, "See it");
        see.href = "/moderation/chat/" + m.id;
        gone.appendChild(see);
      }
      main.appendChild(gone);
    } else if (m.deleted) {
      main.appendChild(el("p", "chat-deleted muted", "This message was deleted."));
    } else {
      var body = el("div", "prose chat-body");
      sanitisedHTML(body, m.body_html);
      main.appendChild(body);
    }
    var foot = el("div", "chat-foot row small");
    if (!chat.thread && !m.parent_id) {
      var replies = el("a", "chat-replies", m.reply_count ? plural(m.reply_count, "reply", "replies") : "Reply in thread");
      replies.href = threadUrl(m.id);
      foot.appendChild(replies);
    }
    if (m.promoted_post_id) {
      var promoted = el("a", "chat-promoted", "Became a post");
      promoted.href = "/p/" + m.promoted_post_id;
      foot.appendChild(promoted);
    }
    if (!m.deleted) {
      if (own) {
        var edit = el("a", "chat-edit", "Edit");
        edit.href = threadUrl(m.id) + "/edit";
        edit.appendChild(el("span", "visually-hidden", " your message"));
        foot.appendChild(edit);
      }
      if ((own || chat.mod) && !m.promoted_post_id) {
        var promote = el("a", "chat-promote", "Turn into a post");
        promote.href = threadUrl(m.id) + "/promote";
        foot.appendChild(promote);
      }
      if (own || chat.mod) foot.appendChild(deleteForm(m));
    }
    main.appendChild(foot);
    li.appendChild(main);
    return li;
  }

  function belongsHere(m) {
    if (!chat || m.room !== chat.room) return false;
    if (chat.thread) return m.id === chat.thread || m.parent_id === chat.thread;
    return !m.parent_id;
  }

  function place(li, id) {
    var items = chat.log.children;
    for (var i = items.length - 1; i >= 0; i--) {
      var other = Number(items[i].getAttribute("data-id"));
      if (other && other < id) { items[i].insertAdjacentElement("afterend", li); return; }
    }
    chat.log.insertBefore(li, chat.log.firstChild);
  }

  function showMessage(m) {
    var existing = document.getElementById("m" + m.id);
    if (existing) return existing;
    if (!belongsHere(m) || !chat.latest || m.id === chat.thread) return null;
    var bottom = nearBottom();
    var li = buildMessage(m);
    var pending = m.key ? document.getElementById("pending-" + m.key) : null;
    if (pending) pending.replaceWith(li); else place(li, m.id);
    var empty = chatEl.querySelector("[data-chat-empty]");
    if (empty) empty.remove();
    if (chat.thread) updateReplyCount();
    if (bottom) li.scrollIntoView({ block: "nearest" });
    return li;
  }

  function updateReplyCount() {
    var n = chat.log.querySelectorAll(".chat-message:not(.is-pending)").length;
    var count = chatEl.querySelector("[data-reply-count]");
    var noun = chatEl.querySelector("[data-reply-noun]");
    if (count) count.textContent = String(n);
    if (noun) noun.textContent = n === 1 ? "y" : "ies";
  }

  if (chat) {
    socket.on("chat.message", function (m) {
      if (m.room !== chat.room) return;
      seen(m.id);
      showMessage(m);
    });
    socket.on("chat.updated", function (m) {
      if (m.room !== chat.room) return;
      var existing = document.getElementById("m" + m.id);
      if (!existing) return;
      existing.replaceWith(buildMessage(m));
      if (chat.thread) updateReplyCount();
    });

    /* sending: stored and acknowledged, or retried with the same key */
    var form = chat.form;
    var input = form ? form.querySelector("[data-chat-input]") : null;
    var keyField = form ? form.querySelector("[data-chat-key]") : null;
    var status = form ? form.querySelector("[data-chat-status]") : null;
    var stopTyping = input ? watchTyping(input, chat.room, chat.thread) : function () {};

    var trySend = function (item) {
      if (item.done || item.inFlight || !socket.connected) return;
      item.inFlight = true;
      socket.timeout(8000).emit("chat.send", {
        room: chat.room, body: item.body, key: item.key, parent_id: chat.thread
      }, function (err, ack) {
        item.inFlight = false;
        if (item.done) return;
        if (err) { setTimeout(function () { trySend(item); }, 1000); return; }
        if (ack && ack.ok) { finish(item, ack.message); return; }
        if (ack && ack.code === "rate_limited") {
          setPendingNote(item, "Waiting: " + ack.error);
          setTimeout(function () { trySend(item); }, (ack.retry_after || 2) * 1000);
          return;
        }
        fail(item, (ack && ack.error) || "The message could not be sent.");
      });
    };

    var setPendingNote = function (item, text) {
      var node = document.getElementById("pending-" + item.key);
      if (node) node.querySelector(".chat-pending-note").textContent = text;
    };

    var finish = function (item, message) {
      item.done = true;
      chat.pending = chat.pending.filter(function (p) { return p !== item; });
      seen(message.id);
      var shown = showMessage(message);
      var node = document.getElementById("pending-" + item.key);
      if (node && shown !== node) node.remove();
      if (status && !chat.pending.length) status.textContent = "";
    };

    var fail = function (item, text) {
      item.done = true;
      chat.pending = chat.pending.filter(function (p) { return p !== item; });
      var node = document.getElementById("pending-" + item.key);
      if (node) node.remove();
      if (input && !input.value.trim()) input.value = item.body;
      if (status) { status.textContent = text; status.classList.add("error"); }
    };

    var showPending = function (item) {
      var li = el("li", "chat-message is-own is-pending");
      li.id = "pending-" + item.key;
      var main = el("div", "chat-main");
      main.appendChild(el("p", "chat-meta small muted chat-pending-note", socket.connected ? "Sending…" : "Waiting for the connection…"));
      main.appendChild(el("p", "chat-pending-body", item.body));
      var spacer = el("div", "chat-avatar");
      li.appendChild(spacer);
      li.appendChild(main);
      chat.log.appendChild(li);
      var empty = chatEl.querySelector("[data-chat-empty]");
      if (empty) empty.remove();
      li.scrollIntoView({ block: "nearest" });
    };

    if (form && input && keyField && chat.latest) {
      var hint = form.querySelector(".hint");
      if (hint) hint.textContent += " Enter sends; Shift+Enter starts a new line.";
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.defaultPrevented) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var text = input.value.trim();
        if (status) { status.textContent = ""; status.classList.remove("error"); }
        if (!text) { if (status) status.textContent = "Write something before you send it."; return; }
        var item = { key: keyField.value || newKey(), body: text, done: false, inFlight: false };
        keyField.value = newKey();
        input.value = "";
        stopTyping();
        chat.pending.push(item);
        showPending(item);
        trySend(item);
      });
    }

    /* deleting without leaving the page (the form still works on its own). On the document,
       after kring.js's confirmation (registered first): a cancelled confirm is respected. */
    document.addEventListener("submit", function (event) {
      var form2 = event.target;
      if (event.defaultPrevented || !chatEl.contains(form2) || !form2.classList.contains("chat-delete-form") ||
          !socket.connected) return;
      var li = form2.closest(".chat-message");
      var id = li ? Number(li.getAttribute("data-id")) : 0;
      if (!id) return;
      event.preventDefault();
      socket.timeout(8000).emit("chat.delete", { id: id }, function (err, ack) {
        if (err || !ack || !ack.ok) { form2.submit(); }
      });
    });

    /* the times say "5 minutes ago": keep them true */
    setInterval(function () {
      var times = document.querySelectorAll("time[data-live-time]");
      for (var i = 0; i < times.length; i++) times[i].textContent = ago(times[i].getAttribute("datetime"));
    }, 60000);
  }
})();
