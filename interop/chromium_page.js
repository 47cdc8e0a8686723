// The browser side of interop/chromium_peer.py and interop/firefox_peer.py: one
// RTCPeerConnection driven by protocol commands (`handle(line)`), reporting through
// `emitLine` (a DevTools binding in Chromium, the bridge's WebSocket in Firefox).
'use strict';

const BULK_HIGH_WATER = 1 << 20;
const STATS_REQUEST = '__stats__';

let args = null;
let pc = null;
const channels = [];
let rxBytes = 0;
let rxMsgs = 0;
let haveRemote = false;
let pendingCandidates = [];
let queue = Promise.resolve();
let stateSeen = 'new';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function emit(obj) {
  window.emitLine(JSON.stringify(obj));
}

function error(message) {
  emit({ event: 'error', message });
}

function onState() {
  if (pc.connectionState !== stateSeen) {
    stateSeen = pc.connectionState;
    emit({ event: 'state', state: stateSeen });
  }
}

function start(options) {
  args = options;
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.onconnectionstatechange = onState;
  pc.onicecandidate = (e) => {
    if (!args.trickle) {
      if (!e.candidate) emit({ type: pc.localDescription.type, sdp: pc.localDescription.sdp });
      return;
    }
    if (!e.candidate) emit({ type: 'end-of-candidates' });
    else if (e.candidate.candidate) {
      emit({ type: 'candidate', candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex });
    }
  };
  pc.ondatachannel = (e) => track(e.channel);
  emit({ event: 'ready', role: args.role, label: args.label, stack: args.stack || 'chromium', userAgent: navigator.userAgent });
  if (args.role === 'offerer') {
    track(pc.createDataChannel(args.label));
    queue = queue.then(async () => {
      await pc.setLocalDescription(await pc.createOffer());
      if (args.trickle) emit({ type: 'offer', sdp: pc.localDescription.sdp });
    }).catch((e) => error(`creating the offer: ${e}`));
  }
}

function track(dc) {
  dc.binaryType = 'arraybuffer';
  const entry = { dc, announced: false };
  channels.push(entry);
  const announce = () => {
    if (entry.announced) return;
    entry.announced = true;
    emit({
      event: 'open', label: dc.label, id: dc.id, ordered: dc.ordered, protocol: dc.protocol,
      maxRetransmits: dc.maxRetransmits, maxPacketLifeTime: dc.maxPacketLifeTime, negotiated: dc.negotiated,
    });
  };
  dc.onopen = announce;
  dc.onclose = () => emit({ event: 'close', label: dc.label });
  dc.onmessage = (e) => onMessage(dc, e.data);
  if (dc.readyState === 'open') announce();
}

function onMessage(dc, payload) {
  const isText = typeof payload === 'string';
  const bytes = isText ? new TextEncoder().encode(payload) : new Uint8Array(payload);
  if (!args.quiet) {
    const event = { event: 'message', label: dc.label, binary: !isText, len: bytes.length, crc32: crc32(bytes) };
    if (isText) event.text = payload;
    else if (!args.sink) event.b64 = toBase64(bytes);
    emit(event);
  }
  if (isText && payload === STATS_REQUEST) {
    sendOrReport(dc, JSON.stringify({ type: 'stats', rx_bytes: rxBytes, rx_msgs: rxMsgs }), 'stats reply');
    return;
  }
  if (!isText) {
    rxBytes += bytes.length;
    rxMsgs += 1;
  }
  if (args.echo && !(args.sink && !isText)) sendOrReport(dc, payload, 'echo');
}

function sendOrReport(dc, payload, what) {
  try {
    dc.send(payload);
  } catch (e) {
    error(`${what} on ${JSON.stringify(dc.label)}: ${e}`);
  }
}

function find(label) {
  for (let i = channels.length - 1; i >= 0; i--) {
    const dc = channels[i].dc;
    if ((label === undefined || label === null || dc.label === label) && dc.readyState !== 'closed') return dc;
  }
  throw new Error(`no open channel labelled ${JSON.stringify(label)}`);
}

function roomFor(dc) {
  if (dc.bufferedAmount <= BULK_HIGH_WATER) return Promise.resolve();
  return new Promise((resolve) => {
    dc.bufferedAmountLowThreshold = BULK_HIGH_WATER / 2;
    dc.addEventListener('bufferedamountlow', resolve, { once: true });
  });
}

async function bulk(dc, total, chunk) {
  const payload = new Uint8Array(chunk);
  for (let i = 0; i < chunk; i++) payload[i] = i % 251;
  let sent = 0;
  let msgs = 0;
  try {
    while (sent < total) {
      await roomFor(dc);
      const size = Math.min(chunk, total - sent);
      dc.send(size === chunk ? payload : payload.subarray(0, size));
      sent += size;
      msgs += 1;
    }
  } catch (e) {
    error(`send_bulk on ${JSON.stringify(dc.label)} stopped after ${sent} bytes: ${e}`);
    return;
  }
  emit({ event: 'sent', label: dc.label, bytes: sent, msgs });
}

async function addCandidate(command) {
  const text = command.type === 'candidate' ? String(command.candidate ?? '') : '';
  const init = text
    ? { candidate: text.replace(/^a=/, ''), sdpMid: command.sdpMid ?? null, sdpMLineIndex: command.sdpMLineIndex ?? 0 }
    : null;
  if (!haveRemote) {
    pendingCandidates.push(init);
    return;
  }
  if (init) await pc.addIceCandidate(init);
  else await pc.addIceCandidate();
}

async function apply(command) {
  switch (command.type) {
    case 'offer':
    case 'answer': {
      await pc.setRemoteDescription({ type: command.type, sdp: command.sdp });
      haveRemote = true;
      const pending = pendingCandidates;
      pendingCandidates = [];
      for (const init of pending) {
        if (init) await pc.addIceCandidate(init);
        else await pc.addIceCandidate();
      }
      if (command.type === 'offer') {
        await pc.setLocalDescription(await pc.createAnswer());
        if (args.trickle) emit({ type: 'answer', sdp: pc.localDescription.sdp });
      }
      break;
    }
    case 'candidate':
    case 'end-of-candidates':
      await addCandidate(command);
      break;
    case 'send': {
      const dc = find(command.label);
      if (typeof command.text === 'string') dc.send(command.text);
      else dc.send(fromBase64(String(command.b64)));
      break;
    }
    case 'send_bulk':
      bulk(find(command.label), Number(command.bytes), Number(command.chunk ?? 65536));
      break;
    case 'create_channel': {
      const init = { ordered: command.ordered ?? true, protocol: command.protocol ?? '' };
      if (command.maxRetransmits !== undefined && command.maxRetransmits !== null) init.maxRetransmits = command.maxRetransmits;
      if (command.maxPacketLifeTime !== undefined && command.maxPacketLifeTime !== null) init.maxPacketLifeTime = command.maxPacketLifeTime;
      if (command.negotiated) {
        init.negotiated = true;
        init.id = command.id;
      }
      track(pc.createDataChannel(command.label, init));
      break;
    }
    case 'close_channel':
      find(command.label).close();
      break;
    case 'restart_ice':
      // New ICE credentials and candidates; the offer is relayed like the first one.
      pc.restartIce();
      await pc.setLocalDescription(await pc.createOffer());
      if (args.trickle) emit({ type: 'offer', sdp: pc.localDescription.sdp });
      break;
    case 'close':
      pc.close();
      // A local close fires no connectionstatechange.
      if (stateSeen !== 'closed') {
        stateSeen = 'closed';
        emit({ event: 'state', state: 'closed' });
      }
      break;
    default:
      throw new Error(`unknown command type ${JSON.stringify(command.type)}`);
  }
}

// Commands run strictly in order, each after the previous one finished.
function handle(line) {
  let command;
  try {
    command = JSON.parse(line);
    if (typeof command !== 'object' || command === null) throw new Error('a command must be a JSON object');
  } catch (e) {
    error(`${e} (line: ${line.slice(0, 120)})`);
    return;
  }
  queue = queue.then(() => apply(command)).catch((e) => error(`${command.type}: ${e}`));
}
