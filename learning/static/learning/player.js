/* The lesson player: no seeking past the furthest point watched, resume, heartbeats, idle pauses.
 *
 * The server decides progress from the heartbeats (learning/rules.py); this script only keeps an honest
 * student from losing time: it snaps a seek ahead back, caps the playback rate, sends the position every
 * `heartbeat_seconds` while playing (and on pause / end), and pauses every `idle_pause_minutes` until the
 * "继续学习" button is clicked. No library, no CDN.
 */
(function () {
  "use strict";

  var root = document.getElementById("player");
  if (!root) {
    return;
  }
  var video = document.getElementById("lesson-video");
  var dialog = document.getElementById("idle-dialog");
  var statusText = document.getElementById("status");
  var furthestText = document.getElementById("furthest");
  var data = root.dataset;
  var config = {
    startUrl: data.startUrl,
    heartbeatUrl: data.heartbeatUrl,
    confirmUrl: data.confirmUrl,
    duration: parseFloat(data.duration),
    heartbeatSeconds: parseInt(data.heartbeatSeconds, 10),
    idleMinutes: parseInt(data.idleMinutes, 10),
    maxRate: parseFloat(data.maxRate),
    forbidSeek: data.forbidSeek === "1",
    csrf: data.csrf,
  };
  // Seconds of slack when comparing positions (the server allows the same).
  var TOLERANCE = 1.0;
  var MIN_INTERVAL_MS = 1200;

  var state = {
    token: null,
    starting: null,
    furthest: parseFloat(data.furthest) || 0,
    lastTime: parseFloat(data.resumeAt) || 0,
    lastSentAt: 0,
    heartbeatTimer: null,
    idleTimer: null,
    waitingForConfirmation: false,
    accepted: 0,
    refused: 0,
    lastAnswer: null,
  };

  function show(message) {
    statusText.textContent = message || "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": config.csrf, Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 204) {
        return { ok: true, status: 204, body: null };
      }
      return response.json().then(function (json) {
        return { ok: response.ok, status: response.status, body: json };
      });
    });
  }

  function allowedUntil() {
    return Math.max(state.furthest, 0) + TOLERANCE;
  }

  function start() {
    if (state.token) {
      return Promise.resolve(state.token);
    }
    if (!state.starting) {
      state.starting = post(config.startUrl, {}).then(function (answer) {
        state.starting = null;
        if (!answer.ok) {
          video.pause();
          show(answer.body && answer.body.message ? answer.body.message : "无法开始学习，请刷新页面");
          return null;
        }
        state.token = answer.body.token;
        state.furthest = Math.max(state.furthest, answer.body.furthest_second);
        state.lastSentAt = Date.now();
        armIdleTimer();
        return state.token;
      });
    }
    return state.starting;
  }

  function sendHeartbeat(position) {
    if (!state.token || state.waitingForConfirmation) {
      return Promise.resolve(null);
    }
    var wait = state.lastSentAt + MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      return new Promise(function (resolve) {
        setTimeout(resolve, wait);
      }).then(function () {
        return sendHeartbeat(position);
      });
    }
    var reported = position === undefined ? video.currentTime : position;
    state.lastSentAt = Date.now();
    return post(config.heartbeatUrl, {
      token: state.token,
      position: reported,
      playing: !video.paused,
      playback_rate: video.playbackRate,
    }).then(function (answer) {
      state.lastAnswer = answer.body;
      if (!answer.ok) {
        state.token = null;
        video.pause();
        show(answer.body && answer.body.message ? answer.body.message : "学习记录失败，请刷新页面");
        return answer.body;
      }
      var body = answer.body;
      state.furthest = Math.max(state.furthest, body.furthest_second);
      furthestText.textContent = Math.floor(state.furthest);
      if (body.accepted) {
        state.accepted += 1;
        show(body.lesson_completed ? "本课件已学完" : "");
      } else {
        state.refused += 1;
        if (body.code === "confirmation_required") {
          idlePause();
        } else if (body.code === "ahead_of_real_time") {
          video.currentTime = Math.min(body.position, state.furthest);
          show(body.message);
        } else {
          show(body.message);
        }
      }
      return body;
    });
  }

  function stopHeartbeats() {
    if (state.heartbeatTimer) {
      clearInterval(state.heartbeatTimer);
      state.heartbeatTimer = null;
    }
  }

  function startHeartbeats() {
    stopHeartbeats();
    state.heartbeatTimer = setInterval(function () {
      if (!video.paused && !video.seeking) {
        sendHeartbeat();
      }
    }, config.heartbeatSeconds * 1000);
  }

  function armIdleTimer() {
    if (state.idleTimer) {
      clearTimeout(state.idleTimer);
    }
    if (config.idleMinutes > 0) {
      state.idleTimer = setTimeout(idlePause, config.idleMinutes * 60 * 1000);
    }
  }

  function idlePause() {
    if (state.waitingForConfirmation) {
      return;
    }
    // Report what was watched up to the pause before asking.
    var report = video.paused ? Promise.resolve() : sendHeartbeat();
    video.pause();
    state.waitingForConfirmation = true;
    report.then(function () {
      if (typeof dialog.showModal === "function") {
        dialog.showModal();
      } else {
        dialog.setAttribute("open", "");
      }
    });
  }

  function confirmPresence() {
    return post(config.confirmUrl, { token: state.token }).then(function (answer) {
      if (!answer.ok) {
        show(answer.body && answer.body.message ? answer.body.message : "请刷新页面");
        return;
      }
      state.waitingForConfirmation = false;
      state.lastSentAt = Date.now();
      dialog.close();
      armIdleTimer();
      video.play();
    });
  }

  document.getElementById("idle-continue").addEventListener("click", confirmPresence);
  dialog.addEventListener("cancel", function (event) {
    event.preventDefault(); // Escape does not dismiss the pause
  });

  video.addEventListener("loadedmetadata", function () {
    var resumeAt = parseFloat(data.resumeAt) || 0;
    if (resumeAt > 0 && resumeAt < video.duration - TOLERANCE) {
      video.currentTime = resumeAt;
    }
  });

  video.addEventListener("play", function () {
    if (state.waitingForConfirmation) {
      video.pause();
      return;
    }
    start().then(function (token) {
      if (token) {
        startHeartbeats();
      }
    });
  });

  video.addEventListener("pause", function () {
    stopHeartbeats();
    if (!state.waitingForConfirmation && !video.ended) {
      sendHeartbeat();
    }
  });

  video.addEventListener("ended", function () {
    stopHeartbeats();
    sendHeartbeat(Math.min(video.duration || config.duration, config.duration));
  });

  video.addEventListener("timeupdate", function () {
    if (video.seeking) {
      return;
    }
    var now = video.currentTime;
    // Normal playback moves a few tenths of a second per event; a bigger step is a seek.
    if (now >= state.lastTime && now - state.lastTime <= 2 * config.maxRate + TOLERANCE) {
      if (state.lastTime <= allowedUntil()) {
        state.furthest = Math.max(state.furthest, now);
      }
    }
    state.lastTime = now;
  });

  video.addEventListener("seeking", function () {
    if (config.forbidSeek && video.currentTime > allowedUntil()) {
      show("不能快进：只能拖动到已学过的位置");
      video.currentTime = Math.min(state.lastTime, state.furthest);
    }
  });

  video.addEventListener("ratechange", function () {
    if (video.playbackRate > config.maxRate) {
      video.playbackRate = config.maxRate;
    }
  });

  // For the page's own tests and support staff: what the player knows.
  window.learningPlayer = { state: state, config: config, sendHeartbeat: sendHeartbeat, start: start };
})();
