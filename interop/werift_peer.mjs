// werift (TypeScript WebRTC stack, npm) peer speaking the interop line protocol (see
// interop/README.md) on stdin/stdout.
//
//   NODE_PATH=.interop/node/node_modules node interop/werift_peer.mjs --role offerer|answerer
//       [--label L] [--no-echo] [--sink] [--quiet] [--no-trickle] [--bind ADDR]
//
// werift gathers host candidates on every interface it finds and skips loopback; the driver
// asks it for ADDR (default 127.0.0.1) explicitly and announces only candidates on ADDR.
// `DEBUG=werift*` in the environment turns on werift's own log (on stderr).

import zlib from 'node:zlib';
import { channelOptions, emit, error, parseArgs, readCommands, requirePackage } from './peer_cli.mjs';

const werift = requirePackage('werift');

const BULK_HIGH_WATER = 1 << 20;
const STATS_REQUEST = '__stats__';
// What every other stack in the matrix advertises (werift's own default is 65536).
const MAX_MESSAGE_SIZE = 262144;

const args = parseArgs('werift_peer', process.argv.slice(2));
const pc = new werift.RTCPeerConnection({
  iceServers: [],
  iceAdditionalHostAddresses: [args.bind],
  iceInterfaceAddresses: { udp4: args.bind },
  iceUseIpv6: false,
  maxMessageSize: MAX_MESSAGE_SIZE,
});
const channels = []; // { dc, label, announced, closed }
let rxBytes = 0;
let rxMsgs = 0;
let closing = false;
// Commands are applied one at a time, in order: werift's signalling calls are asynchronous.
let queue = Promise.resolve();

/** A candidate line on the address we were told to use (werift also offers other interfaces). */
function onBind(line) {
  const fields = line.replace(/^a=/, '').split(' ');
  return fields.length > 5 && fields[4] === args.bind;
}

pc.connectionStateChange.subscribe((state) => emit({ event: 'state', state }));
pc.onIceCandidate.subscribe((candidate) => {
  if (!args.trickle || !candidate) return;
  const init = candidate.toJSON();
  if (!onBind(init.candidate)) return;
  emit({ type: 'candidate', candidate: init.candidate.replace(/^a=/, ''), sdpMid: init.sdpMid ?? '0', sdpMLineIndex: init.sdpMLineIndex ?? 0 });
});
pc.iceGatheringStateChange.subscribe((state) => {
  if (state !== 'complete') return;
  if (args.trickle) emit({ type: 'end-of-candidates' });
  else emitFullDescription();
});
pc.onDataChannel.subscribe((dc) => track(dc));

let pendingDescription = null;

function emitFullDescription() {
  const local = pc.localDescription;
  if (!pendingDescription || !local || pc.iceGatheringState !== 'complete') return;
  const sdp = local.sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || onBind(line))
    .join('\r\n');
  emit({ type: pendingDescription, sdp });
  pendingDescription = null;
}

async function describe(type) {
  const description = type === 'offer' ? await pc.createOffer() : await pc.createAnswer();
  await pc.setLocalDescription(description);
  if (args.trickle) {
    emit({ type, sdp: pc.localDescription.sdp });
  } else {
    pendingDescription = type;
    emitFullDescription();
  }
}

function track(dc) {
  const entry = { dc, label: dc.label, announced: false, closed: false };
  channels.push(entry);
  const announce = () => {
    if (entry.announced) return;
    entry.announced = true;
    emit({
      event: 'open',
      label: dc.label,
      id: dc.id,
      ordered: dc.ordered,
      protocol: dc.protocol,
      maxRetransmits: dc.maxRetransmits ?? null,
      maxPacketLifeTime: dc.maxPacketLifeTime ?? null,
      negotiated: Boolean(dc.negotiated),
    });
  };
  const closed = () => {
    if (entry.closed) return;
    entry.closed = true;
    emit({ event: 'close', label: entry.label });
  };
  dc.stateChanged.subscribe((state) => {
    if (state === 'open') announce();
    else if (state === 'closed') closed();
  });
  dc.error.subscribe((e) => error(`channel ${entry.label}: ${e?.message ?? e}`));
  dc.onMessage.subscribe((message) => onMessage(entry, message));
  if (dc.readyState === 'open') announce();
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
    sendOrReport(entry, JSON.stringify({ type: 'stats', rx_bytes: rxBytes, rx_msgs: rxMsgs }), 'stats reply');
    return;
  }
  if (!isText) {
    rxBytes += data.length;
    rxMsgs += 1;
  }
  if (args.echo && !(args.sink && !isText)) sendOrReport(entry, isText ? message : data, 'echo');
}

function sendOrReport(entry, payload, what) {
  try {
    entry.dc.send(payload);
  } catch (e) {
    error(`${what} on ${JSON.stringify(entry.label)}: ${e.message ?? e}`);
  }
}

function find(label) {
  for (let i = channels.length - 1; i >= 0; i--) {
    const entry = channels[i];
    if ((label === undefined || label === null || entry.label === label) && !entry.closed) return entry;
  }
  throw new Error(`no open channel labelled ${JSON.stringify(label)}`);
}

async function bulk(entry, total, chunk) {
  const payload = Buffer.alloc(chunk);
  for (let i = 0; i < chunk; i++) payload[i] = i % 251;
  let sent = 0;
  let msgs = 0;
  try {
    while (sent < total) {
      while (entry.dc.bufferedAmount > BULK_HIGH_WATER) await new Promise((r) => setTimeout(r, 2));
      const size = Math.min(chunk, total - sent);
      entry.dc.send(size === chunk ? payload : payload.subarray(0, size));
      sent += size;
      msgs += 1;
    }
  } catch (e) {
    error(`send_bulk on ${JSON.stringify(entry.label)} stopped after ${sent} bytes: ${e.message ?? e}`);
    return;
  }
  emit({ event: 'sent', label: entry.label, bytes: sent, msgs });
}

async function apply(command) {
  switch (command.type) {
    case 'offer':
    case 'answer':
      await pc.setRemoteDescription({ type: command.type, sdp: command.sdp });
      if (command.type === 'offer') await describe('answer');
      break;
    case 'candidate': {
      const text = String(command.candidate ?? '');
      if (!text) break; // end of candidates
      await pc.addIceCandidate({
        candidate: text.startsWith('a=') ? text.slice(2) : text,
        sdpMid: command.sdpMid ?? '0',
        sdpMLineIndex: command.sdpMLineIndex ?? 0,
      });
      break;
    }
    case 'end-of-candidates':
      break;
    case 'send': {
      const entry = find(command.label);
      // Oversized messages are refused by werift itself (it throws).
      if (typeof command.text === 'string') entry.dc.send(command.text);
      else entry.dc.send(Buffer.from(String(command.b64), 'base64'));
      break;
    }
    case 'send_bulk':
      bulk(find(command.label), Number(command.bytes), Number(command.chunk ?? 65536));
      break;
    case 'create_channel': {
      const options = channelOptions(command);
      track(pc.createDataChannel(command.label, options));
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
  const exit = () => setTimeout(() => process.exit(0), 300);
  // werift's close() stops DTLS and ICE before it aborts SCTP, so its ABORT never leaves and
  // the remote hears nothing (it sends no close_notify either): the remote only notices when
  // ICE consent runs out. So the SCTP transport is stopped first (its ABORT goes out), and
  // the sockets are closed 100 ms later (closing them at once drops the ABORT still queued).
  const sctp = pc.sctpTransport;
  const first = sctp ? sctp.stop() : Promise.resolve();
  first
    .catch(() => {})
    .then(() => new Promise((resolve) => setTimeout(resolve, 100)))
    .then(() => pc.close())
    .then(exit, exit);
}

emit({ event: 'ready', role: args.role, label: args.label, stack: 'werift' });
if (args.role === 'offerer') {
  track(pc.createDataChannel(args.label));
  queue = queue.then(() => describe('offer')).catch((e) => error(`offer: ${e.message ?? e}`));
}

readCommands({
  closing: () => closing,
  onCommand: (command, line) => {
    queue = queue.then(() => apply(command)).catch((e) => error(`${e.message ?? e} (line: ${line.slice(0, 120)})`));
  },
  onEnd: () => {
    queue = queue.then(close, close);
  },
});
