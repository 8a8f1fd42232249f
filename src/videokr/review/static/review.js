// videokr review: jump to cited moments, keyboard shortcuts, edit sections. No build step, no network.
(function () {
  "use strict";
  var player = document.getElementById("player");
  var form = document.getElementById("verdict");

  function seek(t) {
    if (!player) return;
    var go = function () { player.currentTime = t; };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }
  document.querySelectorAll(".jump").forEach(function (b) {
    b.addEventListener("click", function () { seek(parseFloat(b.dataset.t)); });
  });
  var stamps = Array.prototype.map.call(document.querySelectorAll(".stamps .jump"), function (b) {
    return parseFloat(b.dataset.t);
  });

  // an edit section is shown while its checkbox is ticked
  document.querySelectorAll("input.toggle").forEach(function (box) {
    var target = document.getElementById(box.dataset.target);
    var sync = function () { if (target) target.hidden = !box.checked; };
    box.addEventListener("change", sync); sync();
  });

  var help = document.getElementById("help");
  var helpToggle = document.getElementById("help-toggle");
  if (helpToggle && help) helpToggle.addEventListener("click", function () { help.hidden = !help.hidden; });

  function choices() {
    if (!form) return [];
    return Array.prototype.slice.call(form.querySelectorAll("fieldset.choices input[type=radio], fieldset.flags input[type=checkbox]"));
  }
  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || (el.tagName === "INPUT" && !/radio|checkbox|button|submit/.test(el.type)));
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey && e.key === "Enter" && form) { e.preventDefault(); document.getElementById("save").click(); return; }
    if (typing(document.activeElement) || e.ctrlKey || e.metaKey || e.altKey) return;
    var link;
    if (/^[1-9]$/.test(e.key)) {
      var c = choices()[parseInt(e.key, 10) - 1];
      if (c) { if (c.type === "checkbox") c.checked = !c.checked; else c.checked = true; e.preventDefault(); }
    } else if (e.key === "s" && form) { e.preventDefault(); document.getElementById("save").click(); }
    else if (e.key === "n" && (link = document.getElementById("next"))) { location.href = link.href; }
    else if (e.key === "p" && (link = document.getElementById("prev"))) { location.href = link.href; }
    else if ((e.key === "]" || e.key === "[") && player && stamps.length) {
      var now = player.currentTime, pick;
      if (e.key === "]") pick = stamps.filter(function (t) { return t > now + 0.25; }).sort(function (a, b) { return a - b; })[0];
      else pick = stamps.filter(function (t) { return t < now - 0.25; }).sort(function (a, b) { return b - a; })[0];
      if (pick !== undefined) seek(pick);
    } else if (e.key === " " && player) { e.preventDefault(); if (player.paused) player.play(); else player.pause(); }
    else if (e.key === "ArrowRight" && player) { player.currentTime = Math.min(player.duration || 1e9, player.currentTime + 5); }
    else if (e.key === "ArrowLeft" && player) { player.currentTime = Math.max(0, player.currentTime - 5); }
    else if (e.key === "?" && help) { help.hidden = !help.hidden; }
  });
})();
