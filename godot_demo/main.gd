## The webrtc_rs demo: host or join a lobby, move your marker with the arrow keys, chat.
## Markers are replicated by MultiplayerSynchronizer (player.gd); chat and pings are RPCs.
##
## Command line (after `--`):
##   --auto host|join       connect at start instead of waiting for a button
##   --bot host|join        headless bot: scripted moves and chat, checks, exit code (bot.gd)
##   --lobby CODE           lobby to create (host; empty = random) or join: 12 letters and
##                          digits like 7QKM-X2HP-9RTA (no 0, O, 1 or I)
##   --signaling URL        signaling server (default ws://127.0.0.1:9080; wss:// for TLS)
##   --trust-cert FILE      wss:// with a local test certificate: trust only this PEM file
##   --tls-name NAME        the name that certificate is for (e.g. localhost)
##   --bind ADDR            use only this local address for WebRTC (bots default to 127.0.0.1)
##   --mesh                 host a mesh lobby (every peer connects to every other)
##   --players N            bots: players expected in total, host included (default 2)
##   --timeout SECONDS      bots: give up after this long (default 60)
##
## F3 toggles webrtc_rs's network simulator (about 150 ms round trip and 5 % loss) on every
## connection; the peer list shows each connection's statistics (stats_overlay.gd).
extends Node

const Net := preload("res://net.gd")
const Player := preload("res://player.gd")
const Bot := preload("res://bot.gd")
const StatsOverlay := preload("res://stats_overlay.gd")
const DEFAULT_SIGNALING := "ws://127.0.0.1:9080"
const PING_INTERVAL := 0.5
const LOG_LINES := 14

## Every chat line, ours included (`from_id` is the sender's multiplayer id).
signal chat_received(from_id: int, text: String)

var options := {}
var net: Node
var players: Node2D
## Peer id -> last measured round-trip time in milliseconds (RPC ping over the unreliable channel).
var rtt_ms := {}
var overlay := StatsOverlay.new()

var _ping_timer := 0.0
var _url: LineEdit
var _code: LineEdit
var _mesh: CheckBox
var _host_button: Button
var _join_button: Button
var _seal_button: Button
var _status: Label
var _peers: Label
var _log: Label
var _log_lines := PackedStringArray()
var _chat_input: LineEdit
var _last_status := "not connected"


func _ready() -> void:
	options = parse_args(OS.get_cmdline_user_args())
	if options.has("error"):
		printerr("demo: %s" % options["error"])
		set_process(false)
		get_tree().quit(2)
		return

	# Nodes are made only now, so that an early exit above leaks nothing.
	var world := Node2D.new()
	world.name = "World"
	add_child(world)
	players = Node2D.new()
	players.name = "Players"
	world.add_child(players)
	_build_ui()

	net = Net.new()
	net.name = "Net"
	net.bind_address = options["bind"]
	net.trust_cert = options["trust_cert"]
	net.tls_name = options["tls_name"]
	# Bots and auto-started clients may start before their host has created the lobby.
	net.retry_missing_lobby = options["bot"] != "" or options["role"] == "join"
	net.status_changed.connect(_on_status)
	net.failed.connect(_on_failed)
	net.lobby_joined.connect(_on_lobby_joined)
	add_child(net)
	multiplayer.peer_connected.connect(_on_peer_connected)
	multiplayer.peer_disconnected.connect(_on_peer_disconnected)

	if options["bot"] != "":
		Engine.max_fps = 60 # headless would otherwise spin a core
		var bot := Bot.new()
		bot.name = "Bot"
		bot.main = self
		add_child(bot)
	if not Net.webrtc_available():
		net.failed.emit("no WebRTC implementation is loaded: the webrtc_rs addon must be in addons/webrtc_rs/ (cargo xtask demo copies it there)")
		_host_button.disabled = true
		_join_button.disabled = true
	elif options["role"] != "":
		_start(options["role"])


static func parse_args(args: PackedStringArray) -> Dictionary:
	var o := {"bot": "", "role": "", "lobby": "", "signaling": DEFAULT_SIGNALING, "bind": "",
		"players": 2, "timeout": 60.0, "mesh": false, "trust_cert": "", "tls_name": ""}
	var i := 0
	while i < args.size():
		var flag := args[i]
		var value: String = args[i + 1] if i + 1 < args.size() else ""
		i += 2
		match flag:
			"--bot":
				o["bot"] = value
				o["role"] = value
			"--auto": o["role"] = value
			"--lobby": o["lobby"] = value
			"--signaling": o["signaling"] = value
			"--bind": o["bind"] = value
			"--trust-cert": o["trust_cert"] = value
			"--tls-name": o["tls_name"] = value
			"--players": o["players"] = int(value)
			"--timeout": o["timeout"] = float(value)
			"--mesh":
				o["mesh"] = true
				i -= 1
			_: return {"error": "unknown argument %s" % flag}
	if o["role"] not in ["", "host", "join"]:
		return {"error": "role must be host or join, not %s" % o["role"]}
	if o["role"] == "join" and o["lobby"] == "":
		return {"error": "join needs --lobby CODE"}
	if o["bot"] != "":
		if o["players"] < 2:
			return {"error": "--players must be at least 2"}
		if o["bind"] == "":
			o["bind"] = "127.0.0.1"
	return o


func _start(role: String) -> void:
	_host_button.disabled = true
	_join_button.disabled = true
	net.start(_url.text.strip_edges(), role, _code.text.strip_edges(), _mesh.button_pressed)


## Every peer adds the same marker nodes (same names, same authority) as players come and go,
## so each marker's synchronizer finds its counterpart everywhere. A MultiplayerSpawner would
## not suit mesh lobbies: a marker's first updates could then arrive, straight from its owner,
## before the host's spawn message.
func _add_player(id: int) -> void:
	if players.has_node("P%d" % id):
		return
	var player := Player.new()
	player.setup(id)
	player.manual = options["bot"] == "" and id == multiplayer.get_unique_id()
	players.add_child(player)


func _on_lobby_joined(id: int, code: String) -> void:
	_code.text = code
	_seal_button.disabled = id != 1
	_add_player(id)


func _on_peer_connected(id: int) -> void:
	_append("peer %d connected" % id)
	_add_player(id)


func _on_peer_disconnected(id: int) -> void:
	_append("peer %d disconnected" % id)
	rtt_ms.erase(id)
	overlay.forget(id)
	var player := players.get_node_or_null("P%d" % id)
	if player != null:
		player.queue_free()


func _on_status(text: String) -> void:
	_last_status = text
	_append(text)


func _on_failed(reason: String) -> void:
	_last_status = "ERROR: " + reason
	_append("ERROR: " + reason)
	_host_button.disabled = false
	_join_button.disabled = false


func _process(delta: float) -> void:
	_ping_timer += delta
	var online := multiplayer.multiplayer_peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED
	if _ping_timer >= PING_INTERVAL and online:
		_ping_timer = 0.0
		for id in multiplayer.get_peers():
			ping.rpc_id(id, Time.get_ticks_usec())
	_status.text = "%s\nmultiplayer: %s" % [_last_status, _connection_text()]
	var lines := PackedStringArray()
	var ids := multiplayer.get_peers()
	ids.sort()
	for id in ids:
		var rtt: String = "%.1f ms" % rtt_ms[id] if rtt_ms.has(id) else "-"
		lines.append("peer %d: %s, ping %s" % [id, net.peer_state(id), rtt])
		var stats := overlay.describe(id, net.connection(id))
		if stats != "":
			lines.append("    " + stats)
	_peers.text = "you: peer %d\n%s" % [net.my_id, "\n".join(lines)] if net.my_id > 0 else ""


func _unhandled_input(event: InputEvent) -> void:
	var key := event as InputEventKey
	if key != null and key.pressed and not key.echo and key.keycode == KEY_F3:
		_append(overlay.toggle_simulation(net.connections()))


func _connection_text() -> String:
	if multiplayer.multiplayer_peer is OfflineMultiplayerPeer:
		return "offline"
	# MultiplayerPeer.ConnectionStatus values, in order.
	return ["disconnected", "connecting", "connected"][multiplayer.multiplayer_peer.get_connection_status()]


@rpc("any_peer", "call_local", "reliable")
func chat(text: String) -> void:
	var from := multiplayer.get_remote_sender_id()
	if from == 0:
		from = multiplayer.get_unique_id()
	text = text.left(500)
	_append("%d: %s" % [from, text])
	chat_received.emit(from, text)


@rpc("any_peer", "call_remote", "unreliable")
func ping(sent_usec: int) -> void:
	pong.rpc_id(multiplayer.get_remote_sender_id(), sent_usec)


@rpc("any_peer", "call_remote", "unreliable")
func pong(sent_usec: int) -> void:
	rtt_ms[multiplayer.get_remote_sender_id()] = (Time.get_ticks_usec() - sent_usec) / 1000.0


func _append(text: String) -> void:
	_log_lines.append(text)
	if _log_lines.size() > LOG_LINES:
		_log_lines.remove_at(0)
	_log.text = "\n".join(_log_lines)
	if options.get("bot", "") != "":
		print("[peer %d] %s" % [net.my_id if net != null else 0, text])


func _build_ui() -> void:
	var panel := PanelContainer.new()
	panel.position = Vector2(8, 8)
	panel.custom_minimum_size = Vector2(340, 584)
	add_child(panel)
	var box := VBoxContainer.new()
	panel.add_child(box)

	var title := Label.new()
	title.text = "webrtc_rs demo: arrow keys move your marker, F3 simulates a bad network"
	box.add_child(title)
	_url = LineEdit.new()
	_url.text = options["signaling"]
	_url.placeholder_text = "signaling server URL"
	box.add_child(_url)
	_code = LineEdit.new()
	_code.text = options["lobby"]
	_code.placeholder_text = "lobby code (host: empty = random)"
	box.add_child(_code)
	_mesh = CheckBox.new()
	_mesh.text = "mesh (host only)"
	_mesh.button_pressed = options["mesh"]
	box.add_child(_mesh)

	var buttons := HBoxContainer.new()
	box.add_child(buttons)
	_host_button = Button.new()
	_host_button.text = "Host"
	_host_button.pressed.connect(_start.bind("host"))
	_join_button = Button.new()
	_join_button.text = "Join"
	_join_button.pressed.connect(_start.bind("join"))
	_seal_button = Button.new()
	_seal_button.text = "Seal lobby"
	_seal_button.disabled = true
	_seal_button.pressed.connect(func() -> void: net.seal())
	for button in [_host_button, _join_button, _seal_button]:
		buttons.add_child(button)

	_status = Label.new()
	_peers = Label.new()
	for label in [_status, _peers]:
		label.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
		box.add_child(label)
	_log = Label.new()
	# A plain Label: RichTextLabel is missing from Godot builds made with disable_advanced_gui.
	_log.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	_log.clip_text = true
	_log.size_flags_vertical = Control.SIZE_EXPAND_FILL
	box.add_child(_log)
	_chat_input = LineEdit.new()
	_chat_input.placeholder_text = "chat: type and press Enter"
	_chat_input.text_submitted.connect(_on_chat_submitted)
	box.add_child(_chat_input)


func _on_chat_submitted(text: String) -> void:
	_chat_input.clear()
	if text.strip_edges() != "" and not (multiplayer.multiplayer_peer is OfflineMultiplayerPeer):
		chat.rpc(text.strip_edges())
