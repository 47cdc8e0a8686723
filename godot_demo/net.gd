## Joins a lobby on the signaling server (webrtc-rs-signaling, protocol in
## rust/signaling/src/lib.rs) and builds the WebRTCMultiplayerPeer from what it relays.
extends Node

## Human-readable progress ("connecting to signaling", "in lobby ABC as peer 2", ...).
signal status_changed(text: String)
## We are peer `id` of `lobby`; the multiplayer peer is installed.
signal lobby_joined(id: int, lobby: String)
## Something went wrong that the demo cannot recover from.
signal failed(reason: String)

## WebRTCPeerConnection.ConnectionState values, in order.
const STATE_NAMES := ["new", "connecting", "connected", "disconnected", "failed", "closed"]

var ws := WebSocketPeer.new()
var rtc := WebRTCMultiplayerPeer.new()
## Non-standard webrtc_rs key: restrict ICE to this local address ("" = every interface).
var bind_address := ""
var my_id := 0
var lobby := ""
var mesh := false
var sealed := false
## For wss:// with a certificate no CA vouches for (a local test one): trust only this PEM file.
var trust_cert := ""
## With `trust_cert`: the name the certificate is for, when the URL names the server otherwise
## (e.g. "localhost" for wss://127.0.0.1:PORT).
var tls_name := ""
## Keep retrying a join while the server answers "no lobby" (the host may not be there yet).
## Answers with `retry_after_ms` (too many codes tried from this address) are always retried.
var retry_missing_lobby := false

var _first_message := {}
var _started := false
var _url := ""
var _ws_open := false
var _ws_closed := false
var _connections := {} # peer id -> WebRTCPeerConnection


## The WebRTCPeerConnection to peer `id` (null if there is none).
func connection(id: int) -> WebRTCPeerConnection:
	return _connections.get(id)


## Every WebRTCPeerConnection of this peer.
func connections() -> Array:
	return _connections.values()


## Connects to `url`; `role` is "host" (create lobby `code`, random if empty) or "join".
func start(url: String, role: String, code: String, use_mesh: bool) -> void:
	if role == "host":
		_first_message = {"type": "create", "lobby": code, "mesh": use_mesh}
	else:
		_first_message = {"type": "join", "lobby": code}
	_started = true
	_url = url
	_ws_open = false
	_ws_closed = false
	my_id = 0
	_connections.clear()
	rtc = WebRTCMultiplayerPeer.new()
	# wss:// URLs use TLS; by default Godot trusts the system's certificate authorities.
	var tls: TLSOptions = null
	if trust_cert != "":
		var cert := X509Certificate.new()
		if cert.load(trust_cert) != OK:
			failed.emit("cannot load the certificate %s" % trust_cert)
			return
		tls = TLSOptions.client(cert, tls_name)
	var err := ws.connect_to_url(url, tls)
	if err != OK:
		failed.emit("cannot connect to %s (error %d)" % [url, err])
		return
	status_changed.emit("connecting to signaling server %s" % url)


## Host only: ask the server to refuse further joins.
func seal() -> void:
	_send({"type": "seal"})


func stop() -> void:
	ws.close()
	rtc.close()
	_connections.clear()


## True when a WebRTC implementation (the webrtc_rs addon) is loaded; stock native Godot has none.
static func webrtc_available() -> bool:
	return WebRTCPeerConnection.new().get_class() != "WebRTCPeerConnectionExtension"


## Connection state of peer `id` as text, for the peer list.
func peer_state(id: int) -> String:
	var pc: WebRTCPeerConnection = _connections.get(id)
	if pc == null:
		return "relayed by host"
	return STATE_NAMES[pc.get_connection_state()]


func _process(_delta: float) -> void:
	if not _started:
		return
	ws.poll()
	match ws.get_ready_state():
		WebSocketPeer.STATE_OPEN:
			if not _ws_open:
				_ws_open = true
				_send(_first_message)
			while ws.get_available_packet_count() > 0:
				_on_text(ws.get_packet().get_string_from_utf8())
		WebSocketPeer.STATE_CLOSED:
			if _started and not _ws_closed:
				_ws_closed = true
				var why := "signaling connection closed"
				if ws.get_close_code() != -1:
					why += " (%d %s)" % [ws.get_close_code(), ws.get_close_reason()]
				if not _ws_open:
					why = "cannot reach the signaling server %s" % _url
				# Before joining this is fatal; afterwards WebRTC no longer needs the server.
				if my_id == 0:
					failed.emit(why)
				else:
					status_changed.emit(why)


func _send(message: Dictionary) -> void:
	if ws.get_ready_state() == WebSocketPeer.STATE_OPEN:
		ws.send_text(JSON.stringify(message))


func _on_text(text: String) -> void:
	var msg = JSON.parse_string(text)
	if typeof(msg) != TYPE_DICTIONARY or not msg.has("type"):
		failed.emit("signaling server sent something unexpected: %s" % text.left(200))
		return
	match msg["type"]:
		"joined":
			_on_joined(int(msg["id"]), str(msg["lobby"]), bool(msg["mesh"]), msg["peers"])
		"peer_joined":
			var id := int(msg["id"])
			status_changed.emit("peer %d entered the lobby" % id)
			# The lower id offers. Without mesh only the host connects to newcomers.
			if my_id == 1 or mesh:
				_connect_to(id).create_offer()
		"peer_left":
			# Leaving signaling does not end a WebRTC connection that is already up (WebRTC
			# reports its own disconnects); only an unfinished negotiation is dropped.
			var id := int(msg["id"])
			status_changed.emit("peer %d left the lobby" % id)
			if rtc.has_peer(id) and not rtc.get_peer(id)["connected"]:
				rtc.remove_peer(id)
				_connections.erase(id)
		"offer", "answer":
			var from := int(msg["from"])
			var pc: WebRTCPeerConnection = _connections.get(from)
			if pc == null:
				pc = _connect_to(from)
			pc.set_remote_description(msg["type"], str(msg["sdp"]))
		"candidate":
			var pc: WebRTCPeerConnection = _connections.get(int(msg["from"]))
			if pc != null:
				pc.add_ice_candidate(str(msg.get("sdpMid", "0")), int(msg.get("sdpMLineIndex", 0)), str(msg["candidate"]))
		"sealed":
			sealed = true
			status_changed.emit("lobby %s sealed" % lobby)
		"lobby_closed":
			status_changed.emit("lobby closed: %s" % msg.get("reason", ""))
		"error":
			var message := str(msg.get("message", text))
			if my_id == 0 and msg.has("retry_after_ms"):
				# Too many lobby codes tried from this address: the server says when to retry.
				status_changed.emit("signaling server: %s" % message)
				var wait := maxf(float(msg["retry_after_ms"]) / 1000.0, 0.05)
				get_tree().create_timer(wait).timeout.connect(_send.bind(_first_message))
				return
			if my_id == 0 and retry_missing_lobby and message.begins_with("no lobby"):
				get_tree().create_timer(0.5).timeout.connect(_send.bind(_first_message))
				return
			failed.emit("signaling server: %s" % message)


func _on_joined(id: int, code: String, use_mesh: bool, peers: Array) -> void:
	my_id = id
	lobby = code
	mesh = use_mesh
	var err: int
	if mesh:
		err = rtc.create_mesh(id)
	elif id == 1:
		err = rtc.create_server()
	else:
		err = rtc.create_client(id)
	if err != OK:
		failed.emit("WebRTCMultiplayerPeer setup failed (error %d)" % err)
		return
	multiplayer.multiplayer_peer = rtc
	# Peers already in the lobby have lower ids: they will offer to us.
	for peer in peers:
		if mesh or int(peer) == 1:
			_connect_to(int(peer))
	status_changed.emit("in lobby %s as peer %d%s" % [code, id, " (mesh)" if mesh else ""])
	lobby_joined.emit(id, code)


func _connect_to(id: int) -> WebRTCPeerConnection:
	var pc := WebRTCPeerConnection.new()
	var config := {"iceServers": []}
	if bind_address != "":
		config["bindAddress"] = bind_address
	var err := pc.initialize(config)
	if err != OK:
		failed.emit("WebRTCPeerConnection.initialize failed (error %d): is the webrtc_rs addon installed?" % err)
	pc.session_description_created.connect(_on_description.bind(id, pc))
	pc.ice_candidate_created.connect(_on_candidate.bind(id))
	err = rtc.add_peer(pc, id)
	if err != OK:
		failed.emit("add_peer(%d) failed (error %d)" % [id, err])
	_connections[id] = pc
	return pc


func _on_description(type: String, sdp: String, id: int, pc: WebRTCPeerConnection) -> void:
	pc.set_local_description(type, sdp)
	_send({"type": type, "to": id, "sdp": sdp})


func _on_candidate(mid: String, index: int, candidate: String, id: int) -> void:
	_send({"type": "candidate", "to": id, "candidate": candidate, "sdpMid": mid, "sdpMLineIndex": index})
