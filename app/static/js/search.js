/* Kring search: the "similar posts" box of the new-post form.
 *
 * <section data-similar="/search/similar" data-similar-for="title" hidden> fills its
 * .similar-list with posts like the title being typed (a moment after typing stops), each
 * with a link and, for ideas one may still vote for, a "Vote for this instead" button that
 * posts to the idea's vote address (through a small form of its own, outside the post form).
 * Without JavaScript the box stays hidden and the form works as before.
 * No inline script or style (the Content-Security-Policy forbids them).
 */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  var voteForm = null;
  function voteFormId() {
    if (!voteForm) {
      voteForm = document.createElement("form");
      voteForm.id = "similar-vote-form";
      voteForm.method = "post";
      voteForm.hidden = true;
      var token = document.createElement("input");
      token.type = "hidden";
      token.name = "csrf_token";
      token.value = csrfToken();
      voteForm.appendChild(token);
      document.body.appendChild(voteForm);
    }
    return voteForm.id;
  }

  function badge(text, extra) {
    var span = document.createElement("span");
    span.className = "badge " + (extra || "");
    span.textContent = text;
    return span;
  }

  function item(post) {
    var li = document.createElement("li");
    var main = document.createElement("div");
    main.className = "similar-main";
    var link = document.createElement("a");
    link.href = post.url;
    link.textContent = post.title;
    main.appendChild(link);
    var meta = document.createElement("div");
    meta.className = "small muted";
    meta.appendChild(badge(post.kind_label, "badge-kind-" + post.kind));
    if (post.status_label) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(badge(post.status_label, "badge-status-" + post.status));
    }
    var facts = " in " + post.community;
    if (post.kind === "idea") facts += " · " + post.votes + (post.votes === 1 ? " vote" : " votes");
    var noun = post.kind === "question" ? "answer" : "comment";  // as the server's result list says
    facts += " · " + post.comments + " " + noun + (post.comments === 1 ? "" : "s");
    if (post.voted) facts += " · you voted for it";
    meta.appendChild(document.createTextNode(facts));
    main.appendChild(meta);
    li.appendChild(main);
    if (post.vote_url) {
      var button = document.createElement("button");
      button.type = "submit";
      button.className = "button button-secondary button-small";
      button.setAttribute("form", voteFormId());
      button.setAttribute("formaction", post.vote_url);
      button.textContent = "Vote for this instead";
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = ": " + post.title;
      button.appendChild(hidden);
      li.appendChild(button);
    }
    return li;
  }

  function setup(box) {
    var url = box.getAttribute("data-similar");
    var input = document.getElementById(box.getAttribute("data-similar-for") || "title");
    var list = box.querySelector(".similar-list");
    var status = box.querySelector("[data-similar-status]") ||
      (box.parentNode ? box.parentNode.querySelector("[data-similar-status]") : null);
    if (!url || !input || !list || !window.fetch) return;
    var sequence = 0;
    var last = null;
    var timer = null;

    function render(posts) {
      list.textContent = "";
      posts.forEach(function (post) { list.appendChild(item(post)); });
      box.hidden = posts.length === 0;
      if (status) {
        status.textContent = posts.length ? posts.length + (posts.length === 1 ? " similar post" : " similar posts") +
          " found below the title." : "";
      }
    }

    function lookup() {
      var title = input.value.replace(/\s+/g, " ").trim();
      if (title === last) return;
      last = title;
      var mine = ++sequence;
      if (title.length < 4) { render([]); return; }
      var sep = url.indexOf("?") === -1 ? "?" : "&";
      fetch(url + sep + "title=" + encodeURIComponent(title), {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      }).then(function (response) {
        return response.ok ? response.json() : { posts: [] };
      }).then(function (data) {
        if (mine !== sequence) return; // a newer request is under way
        render(Array.isArray(data.posts) ? data.posts : []);
      }).catch(function () {
        last = null; // try again at the next keystroke
      });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, 350);
    });
    if (input.value.trim()) lookup();
  }

  function init() {
    var boxes = document.querySelectorAll("[data-similar]");
    for (var i = 0; i < boxes.length; i++) setup(boxes[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
