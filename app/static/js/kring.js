/* Kring: small progressive enhancements. Every page works without this file.
 *
 * 1. Buttons with data-confirm ask before their form is submitted.
 * 2. <select data-navigate> goes to the chosen option's value (a path on this site).
 * 3. <textarea data-preview="/api/preview"> shows a live preview in the [data-preview-target]
 *    section after it, a moment after typing stops.
 * 4. <textarea data-mentions="/api/c/<slug>/mentions"> suggests people after "@" in an
 *    accessible listbox (arrow keys, Enter/Tab to insert, Escape to close, mouse too).
 * 5. A live discussion marked data-open-at-end opens scrolled to its newest message (and the
 *    message box under it), unless the address names a place on the page (#m123).
 *
 * No framework and no inline script or style (the Content-Security-Policy forbids them).
 */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function debounce(fn, wait) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, wait);
    };
  }

  /* 1. Confirmation before destructive actions ------------------------------------------ */
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button || !button.hasAttribute("data-confirm")) {
      // Enter pressed in a form whose only button asks for confirmation
      var only = event.target.querySelectorAll("button[type=submit], button:not([type])");
      button = only.length === 1 && only[0].hasAttribute("data-confirm") ? only[0] : null;
    }
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  /* 2. Selects that navigate ------------------------------------------------------------- */
  function isLocalPath(value) {
    return typeof value === "string" && value.charAt(0) === "/" && value.charAt(1) !== "/" &&
      value.indexOf("\\") === -1;
  }

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.hasAttribute("data-navigate")) return;
    if (isLocalPath(select.value)) window.location.assign(select.value);
  });

  /* 3. Live preview ---------------------------------------------------------------------- */
  function previewTarget(textarea) {
    var scope = textarea.form || document;
    var targets = scope.querySelectorAll("[data-preview-target]");
    for (var i = 0; i < targets.length; i++) {
      // the first target after the textarea in document order
      if (textarea.compareDocumentPosition(targets[i]) & Node.DOCUMENT_POSITION_FOLLOWING) return targets[i];
    }
    return targets[0] || null;
  }

  function setupPreview(textarea) {
    var url = textarea.getAttribute("data-preview");
    var section = previewTarget(textarea);
    if (!url || !section || !window.fetch) return;
    var box = section.querySelector(".prose") || section;
    var sequence = 0;
    var lastText = null;

    var update = debounce(function () {
      var text = textarea.value;
      if (text === lastText) return;
      lastText = text;
      var mine = ++sequence;
      if (!text.trim()) {
        box.innerHTML = "";
        section.hidden = true;
        return;
      }
      var form = new FormData();
      form.append("body", text);
      fetch(url, {
        method: "POST", body: form, credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (result) {
        if (mine !== sequence) return; // a newer request is under way
        if (result.ok && typeof result.data.html === "string") {
          box.innerHTML = result.data.html; // sanitised on the server (nh3), as the post will be
        } else {
          var errors = (result.data && result.data.errors) || {};
          box.textContent = errors.body || "The preview is not available right now.";
        }
        section.hidden = false;
      }).catch(function () {
        lastText = null; // try again at the next keystroke
      });
    }, 700);

    textarea.addEventListener("input", update);
  }

  /* 4. @mention autocomplete ------------------------------------------------------------- */
  // a handle, or the start of a name with accents ("@chloé"): the server matches both
  var MENTION_BEFORE_CARET = /(^|[^\w@\/.])@([\p{L}\p{N}][\p{L}\p{N}.]{0,39})$/iu;
  var mentionCount = 0;

  function setupMentions(textarea) {
    var url = textarea.getAttribute("data-mentions");
    if (!url || !window.fetch) return;
    var n = ++mentionCount;
    var listId = "mention-list-" + n;

    var anchor = document.createElement("div");
    anchor.className = "mention-anchor";
    var list = document.createElement("ul");
    list.id = listId;
    list.className = "mention-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "People to mention");
    list.hidden = true;
    anchor.appendChild(list);
    textarea.insertAdjacentElement("afterend", anchor);

    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    anchor.appendChild(status);

    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", listId);
    textarea.setAttribute("aria-expanded", "false");

    var people = [];
    var active = -1;
    var match = null; // {start, end, query}
    var sequence = 0;

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      people = [];
      active = -1;
      textarea.setAttribute("aria-expanded", "false");
      textarea.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      if (!options.length) return;
      active = (index + options.length) % options.length;
      for (var i = 0; i < options.length; i++) {
        options[i].setAttribute("aria-selected", i === active ? "true" : "false");
      }
      textarea.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({ block: "nearest" });
    }

    function render() {
      list.innerHTML = "";
      if (!people.length) {
        close();
        status.textContent = match ? "No one found." : "";
        return;
      }
      people.forEach(function (person, i) {
        var option = document.createElement("li");
        option.id = listId + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        var name = document.createElement("span");
        name.className = "mention-name";
        name.textContent = person.name;
        var handle = document.createElement("span");
        handle.className = "mention-handle";
        handle.textContent = "@" + person.handle;
        option.appendChild(name);
        option.appendChild(handle);
        if (person.kind && person.kind !== "employee") {
          var badge = document.createElement("span");
          badge.className = "badge badge-" + person.kind;
          badge.textContent = person.kind.charAt(0).toUpperCase() + person.kind.slice(1);
          option.appendChild(badge);
        }
        option.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep the focus in the textarea
          insert(i);
        });
        option.addEventListener("mousemove", function () { if (active !== i) highlight(i); });
        list.appendChild(option);
      });
      list.hidden = false;
      textarea.setAttribute("aria-expanded", "true");
      highlight(0);
      status.textContent = people.length + (people.length === 1 ? " person" : " people") +
        " found. Use the arrow keys and Enter to choose.";
    }

    function insert(index) {
      var person = people[index];
      if (!person || !match) return;
      var text = textarea.value;
      var replacement = "@" + person.handle + " ";
      textarea.value = text.slice(0, match.start) + replacement + text.slice(match.end);
      var caret = match.start + replacement.length;
      textarea.setSelectionRange(caret, caret);
      close();
      match = null;
      textarea.dispatchEvent(new Event("input", { bubbles: true })); // refresh the preview
      textarea.focus();
    }

    var lookup = debounce(function (query) {
      var mine = ++sequence;
      var sep = url.indexOf("?") === -1 ? "?" : "&";
      fetch(url + sep + "q=" + encodeURIComponent(query), {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      }).then(function (response) {
        return response.ok ? response.json() : { people: [] };
      }).then(function (data) {
        if (mine !== sequence || !match) return;
        people = Array.isArray(data.people) ? data.people : [];
        render();
      }).catch(close);
    }, 150);

    function onInput() {
      var caret = textarea.selectionStart;
      if (caret !== textarea.selectionEnd) { close(); return; }
      var before = textarea.value.slice(0, caret);
      var found = MENTION_BEFORE_CARET.exec(before);
      if (!found) {
        match = null;
        sequence++;
        close();
        return;
      }
      var query = found[2];
      match = { start: caret - query.length - 1, end: caret, query: query };
      lookup(query);
    }

    textarea.addEventListener("input", function (event) {
      if (event.isTrusted === false && !match) return; // our own event after inserting
      onInput();
    });
    textarea.addEventListener("click", onInput);
    textarea.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      switch (event.key) {
        case "ArrowDown": event.preventDefault(); highlight(active + 1); break;
        case "ArrowUp": event.preventDefault(); highlight(active - 1); break;
        case "Enter":
        case "Tab":
          if (active >= 0) { event.preventDefault(); insert(active); }
          break;
        case "Escape": event.preventDefault(); event.stopPropagation(); close(); match = null; break;
        default: break;
      }
    });
    textarea.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  function init() {
    var i;
    var previews = document.querySelectorAll("textarea[data-preview]");
    for (i = 0; i < previews.length; i++) setupPreview(previews[i]);
    var mentions = document.querySelectorAll("textarea[data-mentions]");
    for (i = 0; i < mentions.length; i++) setupMentions(mentions[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  /* 5. The live discussion opens at its newest message ------------------------------------ */
  function openAtEnd() {
    var section = document.querySelector("[data-chat][data-open-at-end]");
    if (!section || window.location.hash) return;
    var newest = section.querySelector("[data-chat-log] > li:last-child");
    var box = section.querySelector("[data-chat-form]");
    if (!newest) return;
    newest.scrollIntoView({ block: "end" });
    if (box) {
      // and the message box in view too: the newest goes above it (it may stick to the bottom
      // of the window) or the box is brought up under it, never past the newest's start
      var n = newest.getBoundingClientRect(), b = box.getBoundingClientRect();
      var shift = Math.max(n.bottom - b.top, b.bottom - window.innerHeight);
      if (shift > 0) window.scrollBy(0, Math.min(shift, n.top));
    }
    if (newest.getBoundingClientRect().top < 0) newest.scrollIntoView({ block: "start" }); // a tall message: its start
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", openAtEnd);
  } else {
    openAtEnd();
  }
})();
