// libdatachannel (through node-datachannel) peer speaking the interop line protocol
// (see interop/README.md) on stdin/stdout.
//
//   NODE_PATH=.interop/node/node_modules node interop/ndc_peer.mjs --role offerer|answerer
//       [--label L] [--no-echo] [--sink] [--quiet] [--no-trickle] [--bind ADDR]
//
// node-datachannel does not expose the reliability of a channel the remote opened, so its
// `open` events for such channels report ordered/maxRetransmits/maxPacketLifeTime as null and
// `optionsKnown: false`.

import zlib from 'node:zlib';
import {
  channelOptions, emit, error, LatencyLog, parseArgs, readCommands, requirePackage, stamp, STAMP_LEN,
} from './peer_cli.mjs';

const nodeDataChannel = requirePackage('node-datachannel');

const BULK_HIGH_WATER = 1 << 20;
const STATS_REQUEST = '__stats__';

const args = parseArgs('ndc_peer', process.argv.slice(2));
const pc = new nodeDataChannel.PeerConnection(args.role, {
  iceServers: [],
  bindAddress: args.bind, // libdatachannel skips loopback unless bound to it
});
const channels = []; // { dc, label, options, open, closed }
let rxBytes = 0;
let rxMsgs = 0;
const latency = new LatencyLog();
let haveRemote = false;
let pendingCandidates = [];
let pendingDescription = null;
let gathered = false;
let closing = false;

pc.onStateChange((state) => emit({ event: 'state', state }));
pc.onLocalDescription((sdp, type) => {
  if (args.trickle) emit({ type, sdp });
  else {
    pendingDescription = type;
    if (gathered) emitFullDescription();
  }
});
pc.onLocalCandidate((candidate, mid) => {
  if (args.trickle) {
    emit({ type: 'candidate', candidate: candidate.replace(/^a=/, ''), sdpMid: mid, sdpMLineIndex: 0 });
  }
});
pc.onGatheringStateChange((state) => {
  if (state !== 'complete') return;
  gathered = true;
  if (args.trickle) emit({ type: 'end-of-candidates' });
  else emitFullDescription();
});
pc.onDataChannel((dc) => track(dc, null));

function emitFullDescription() {
  const local = pc.localDescription();
  if (pendingDescription && local) {
    emit({ type: pendingDescription, sdp: local.sdp });
    pendingDescription = null;
  }
}

function track(dc, options) {
  const entry = { dc, label: dc.getLabel(), options, announced: false, closed: false };
  channels.push(entry);
  const announce = () => {
    if (entry.announced) return;
    entry.announced = true;
    const known = options !== null;
    emit({
      event: 'open',
      label: entry.label,
      id: dc.getId(),
      ordered: known ? !options.unordered : null,
      protocol: dc.getProtocol(),
      maxRetransmits: known ? (options.maxRetransmits ?? null) : null,
      maxPacketLifeTime: known ? (options.maxPacketLifeTime ?? null) : null,
      negotiated: known ? Boolean(options.negotiated) : false,
      optionsKnown: known,
    });
  };
  dc.onOpen(announce);
  dc.onClosed(() => {
    entry.closed = true;
    emit({ event: 'close', label: entry.label });
  });
  dc.onError((message) => error(`channel ${entry.label}: ${message}`));
  dc.onMessage((message) => onMessage(entry, message));
  if (dc.isOpen()) announce();
  return entry;
}

function onMessage(entry, message) {
  const isText = typeof message === 'string';
  const data = isText ? Buffer.from(message, 'utf8') : Buffer.from(message);
  if (!args.quiet) {
    const event = { event: 'message', label: entry.label, binary: !isText, len: data.length, crc32: zlib.crc32(data) >>> 0 };
    if (isText) event.text = message;
    else if (!args.sink) event.b64 = data.toString('base64');
    emit(event);
  }
  if (isText && message === STATS_REQUEST) {
    sendOrReport(entry, JSON.stringify(latency.addTo({ type: 'stats', rx_bytes: rxBytes, rx_msgs: rxMsgs })), true, 'stats reply');
    return;
  }
  if (!isText) {
    rxBytes += data.length;
    rxMsgs += 1;
    latency.record(data);
  }
  if (args.echo && !(args.sink && !isText)) sendOrReport(entry, isText ? message : data, isText, 'echo');
}

function sendOrReport(entry, payload, isText, what) {
  try {
    send(entry, payload, isText);
  } catch (e) {
    error(`${what} on ${JSON.stringify(entry.label)}: ${e.message ?? e}`);
  }
}

function send(entry, payload, isText) {
  // Oversized messages are refused by libdatachannel itself (it throws).
  if (isText) entry.dc.sendMessage(payload);
  else entry.dc.sendMessageBinary(payload);
}

function find(label) {
  for (let i = channels.length - 1; i >= 0; i--) {
    const entry = channels[i];
    if ((label === undefined || label === null || entry.label === label) && !entry.closed) return entry;
  }
  throw new Error(`no open channel labelled ${JSON.stringify(label)}`);
}

// `rate_hz` paces the send: `perTick` messages every 1/rate_hz s, as a game sends per frame.
async function bulk(entry, total, chunk, { rateHz, perTick, stamped }) {
  if (stamped && chunk < STAMP_LEN) {
    error(`send_bulk: a stamped "chunk" needs at least ${STAMP_LEN} bytes`);
    return;
  }
  const payload = Buffer.alloc(chunk);
  for (let i = 0; i < chunk; i++) payload[i] = i % 251;
  const interval = rateHz ? 1000 / rateHz : 0;
  let nextTick = performance.now();
  let sent = 0;
  let msgs = 0;
  try {
    while (sent < total) {
      let allowed = Infinity;
      if (interval) {
        const wait = nextTick - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        nextTick += interval;
        if (nextTick < performance.now()) nextTick = performance.now() + interval;
        allowed = perTick;
      }
      while (allowed-- > 0 && sent < total) {
        while (entry.dc.bufferedAmount() > BULK_HIGH_WATER) await new Promise((r) => setTimeout(r, 2));
        const size = Math.min(chunk, total - sent);
        const message = size === chunk ? payload : payload.subarray(0, size);
        if (stamped) stamp(message);
        send(entry, message, false);
        sent += size;
        msgs += 1;
      }
    }
  } catch (e) {
    error(`send_bulk on ${JSON.stringify(entry.label)} stopped after ${sent} bytes: ${e.message ?? e}`);
    return;
  }
  emit({ event: 'sent', label: entry.label, bytes: sent, msgs });
}

function addCandidate(command) {
  const text = command.type === 'candidate' ? String(command.candidate ?? '') : '';
  if (!text) return; // node-datachannel has no end-of-candidates call
  const candidate = text.startsWith('a=') ? text.slice(2) : text;
  const mid = command.sdpMid ?? '0';
  if (!haveRemote) pendingCandidates.push([candidate, mid]);
  else pc.addRemoteCandidate(candidate, mid);
}

function apply(command) {
  switch (command.type) {
    case 'offer':
    case 'answer':
      pc.setRemoteDescription(command.sdp, command.type);
      haveRemote = true;
      for (const [candidate, mid] of pendingCandidates) pc.addRemoteCandidate(candidate, mid);
      pendingCandidates = [];
      break;
    case 'candidate':
    case 'end-of-candidates':
      addCandidate(command);
      break;
    case 'send': {
      const entry = find(command.label);
      if (typeof command.text === 'string') send(entry, command.text, true);
      else send(entry, Buffer.from(String(command.b64), 'base64'), false);
      break;
    }
    case 'send_bulk':
      bulk(find(command.label), Number(command.bytes), Number(command.chunk ?? 65536), {
        rateHz: command.rate_hz ? Number(command.rate_hz) : 0,
        perTick: Math.max(1, Number(command.per_tick ?? 1)),
        stamped: Boolean(command.stamp),
      });
      break;
    case 'create_channel': {
      // node-datachannel spells the W3C `ordered: false` as `unordered: true`.
      const { ordered, ...options } = channelOptions(command);
      if (ordered === false) options.unordered = true;
      track(pc.createDataChannel(command.label, options), options);
      break;
    }
    case 'close_channel':
      find(command.label).dc.close();
      break;
    case 'close':
      close();
      break;
    default:
      throw new Error(`unknown command type ${JSON.stringify(command.type)}`);
  }
}

function close() {
  if (closing) return;
  closing = true;
  pc.close();
  setTimeout(() => {
    nodeDataChannel.cleanup();
    process.exit(0);
  }, 300);
}

emit({ event: 'ready', role: args.role, label: args.label, stack: 'libdatachannel' });
if (args.role === 'offerer') track(pc.createDataChannel(args.label), {});

readCommands({
  closing: () => closing,
  onCommand: (command, line) => {
    try {
      apply(command);
    } catch (e) {
      error(`${e.message ?? e} (line: ${line.slice(0, 120)})`);
    }
  },
  onEnd: close,
});
