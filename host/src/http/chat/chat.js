// turnbox's chat page: a small Direct Line client. It starts a session with
// the host, streams the conversation over a WebSocket, and renders messages,
// typing, markdown, suggested actions, hero cards and adaptive-card text.
(() => {
  const bot = document.body.dataset.bot;
  const base = `/bots/${encodeURIComponent(bot)}/v3/directline`;
  const log = document.getElementById('log');
  const typing = document.getElementById('typing');
  const form = document.getElementById('send');
  const input = document.getElementById('text');
  let session = null;
  let socket = null;
  let watermark = null;
  let typingTimer = null;
  const shown = new Set();
  const pending = new Map();

  const escape = (text) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

  // Markdown, the safe subset: escaped first, then bold, italics, code, links, lines.
  function markdown(text) {
    return escape(text)
      .replace(/`([^`]+)`/g, '<code>$1</code>')
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
      .replace(/(^|[^*])\*([^*]+)\*/g, '$1<em>$2</em>')
      .replace(/\[([^\]]+)\]\((https?:[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>')
      .replace(/\n/g, '<br>');
  }

  function bubble(kind, html) {
    const div = document.createElement('div');
    div.className = `msg ${kind}`;
    div.innerHTML = html;
    log.appendChild(div);
    window.scrollTo(0, document.body.scrollHeight);
    return div;
  }

  function error(text) {
    bubble('error', escape(text));
  }

  function actionButtons(actions) {
    const box = document.createElement('div');
    box.className = 'actions';
    for (const action of actions || []) {
      if (action.type === 'openUrl') {
        const link = document.createElement('a');
        link.href = action.value;
        link.target = '_blank';
        link.rel = 'noopener';
        link.textContent = action.title || action.value;
        box.appendChild(link);
      } else {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = action.title || action.value;
        button.onclick = () => send(String(action.value ?? action.title));
        box.appendChild(button);
      }
    }
    return box;
  }

  function adaptiveText(element, out) {
    if (!element || typeof element !== 'object') return;
    if (element.type === 'TextBlock' && element.text) out.push(element.text);
    for (const key of ['body', 'items', 'columns', 'facts']) {
      for (const child of element[key] || []) adaptiveText(child, out);
    }
    if (element.title && element.value) out.push(`${element.title}: ${element.value}`);
  }

  function card(attachment) {
    const div = document.createElement('div');
    div.className = 'card';
    const content = attachment.content || {};
    if (attachment.contentType === 'application/vnd.microsoft.card.hero' || attachment.contentType === 'application/vnd.microsoft.card.thumbnail') {
      if (content.title) div.insertAdjacentHTML('beforeend', `<h3>${escape(content.title)}</h3>`);
      if (content.subtitle) div.insertAdjacentHTML('beforeend', `<div class="subtitle">${escape(content.subtitle)}</div>`);
      for (const image of content.images || []) div.insertAdjacentHTML('beforeend', `<img alt="" src="${escape(image.url || '')}">`);
      if (content.text) div.insertAdjacentHTML('beforeend', `<div>${markdown(content.text)}</div>`);
      if (content.buttons) div.appendChild(actionButtons(content.buttons));
    } else if (attachment.contentType === 'application/vnd.microsoft.card.adaptive') {
      const texts = [];
      adaptiveText(content, texts);
      div.innerHTML = texts.map((t) => `<div>${markdown(t)}</div>`).join('') + '<div class="fallback">(an Adaptive Card, shown as text)</div>';
      if (content.actions) div.appendChild(actionButtons(content.actions.map((a) => ({ type: a.url ? 'openUrl' : 'imBack', title: a.title, value: a.url || a.data || a.title }))));
    } else {
      const name = attachment.name || attachment.contentType;
      div.innerHTML = attachment.contentUrl
        ? `<a href="${escape(attachment.contentUrl)}" target="_blank" rel="noopener">${escape(name)}</a>`
        : `<div class="fallback">${escape(name)}</div>`;
    }
    return div;
  }

  function render(activity) {
    if (activity.type === 'typing') {
      if (activity.from && activity.from.role === 'user') return;
      typing.textContent = `${bot} is typing…`;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { typing.textContent = ''; }, 3000);
      return;
    }
    if (activity.id && shown.has(activity.id)) return;
    if (activity.id) shown.add(activity.id);
    const clientId = activity.channelData && activity.channelData.clientActivityID;
    if (clientId && pending.has(clientId)) {
      pending.get(clientId).classList.remove('sending');
      pending.delete(clientId);
      return;
    }
    if (activity.type !== 'message') return;
    const fromUser = activity.from && activity.from.role === 'user';
    typing.textContent = '';
    const div = bubble(fromUser ? 'user' : 'bot', markdown(activity.text || ''));
    for (const attachment of activity.attachments || []) div.appendChild(card(attachment));
    if (!fromUser && activity.suggestedActions) div.appendChild(actionButtons(activity.suggestedActions.actions));
  }

  function receive(set) {
    for (const activity of set.activities || []) render(activity);
    if (set.watermark !== undefined) watermark = set.watermark;
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { 'content-type': 'application/json', ...(session ? { authorization: `Bearer ${session.token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : {};
    if (!response.ok) {
      const code = data.error && data.error.code;
      if (code === 'TokenExpired') throw new Error('Your session has expired. Reload the page to start again.');
      if (response.status === 502) throw new Error(`The bot could not answer: ${(data.error && data.error.message) || 'it failed'}.`);
      throw new Error((data.error && data.error.message) || `The host answered ${response.status}.`);
    }
    return data;
  }

  function connect(url) {
    socket = new WebSocket(url);
    socket.onmessage = (event) => { if (event.data) receive(JSON.parse(event.data)); };
    socket.onclose = () => setTimeout(reconnect, 1000);
  }

  async function reconnect() {
    try {
      const query = watermark === null ? '' : `?watermark=${encodeURIComponent(watermark)}`;
      const answer = await api('GET', `${base}/conversations/${session.conversationId}${query}`);
      session.token = answer.token;
      connect(answer.streamUrl);
    } catch (e) {
      error(e.message);
    }
  }

  async function send(text) {
    const clientId = `c${Date.now()}${Math.random().toString(16).slice(2)}`;
    pending.set(clientId, bubble('user sending', markdown(text)));
    try {
      await api('POST', `${base}/conversations/${session.conversationId}/activities`, {
        type: 'message', text, from: { id: session.user, role: 'user' }, channelData: { clientActivityID: clientId },
      });
    } catch (e) {
      error(e.message);
    }
  }

  form.onsubmit = (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !session) return;
    input.value = '';
    send(text);
  };

  (async () => {
    try {
      const started = await api('POST', `/chat/${encodeURIComponent(bot)}/session`);
      session = { ...started, user: started.userId };
      connect(started.streamUrl);
      setInterval(async () => {
        try { session.token = (await api('POST', `${base}/tokens/refresh`)).token; } catch (e) { error(e.message); }
      }, 15 * 60 * 1000);
      input.disabled = false;
      input.focus();
    } catch (e) {
      error(e.message);
    }
  })();
})();
