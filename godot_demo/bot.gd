## Headless bot (`-- --bot host|join`): once every expected player is connected, moves its
## marker along a scripted path and sends two chat lines; then checks that it received every
## other player's lines (in order), saw every other marker move and arrive at its scripted end
## point, and measured a round-trip time to each. It prints one summary line and exits 0 on
## success, 1 on failure or timeout.
extends Node

const Player := preload("res://player.gd")
const MOVE_SECONDS := 2.0
## A remote marker must have been seen at this many distinct positions (proves continuous sync).
const MIN_DISTINCT_POSITIONS := 5

var main: Node

var _elapsed := 0.0
var _move_elapsed := -1.0
var _bye_sent := false
var _passed := false
var _finished := false
var _quit_in := -1.0
var _exit_code := 1
var _chat := {} # sender id -> Array[String]
var _done_from := {} # peer id -> true once that bot passed its own checks


static func final_position(id: int) -> Vector2:
	return Player.start_position(id) + Vector2(0, 300 + 10 * id)


static func chat_lines(id: int) -> Array:
	return ["hello from %d" % id, "bye from %d" % id]


func _ready() -> void:
	main.chat_received.connect(_on_chat)
	main.net.failed.connect(_on_failed)


func _on_failed(reason: String) -> void:
	_finish(false, reason)


func _process(delta: float) -> void:
	_elapsed += delta
	if _quit_in >= 0.0:
		_quit_in -= delta
		if _quit_in < 0.0:
			get_tree().quit(_exit_code)
		return
	if _finished:
		return
	if _elapsed > main.options["timeout"]:
		_finish(false, "timed out after %.0f s; missing: %s" % [main.options["timeout"], ", ".join(_missing())])
		return

	var me: int = main.net.my_id
	var mine: Node2D = main.players.get_node_or_null("P%d" % me) if me > 0 else null
	if _move_elapsed < 0.0:
		if mine != null and _others().size() == main.options["players"] - 1:
			_move_elapsed = 0.0
			main.chat.rpc(chat_lines(me)[0])
			if me == 1:
				main.net.seal()
		return

	if mine == null:
		_finish(false, "our own marker P%d disappeared (lost the connection?)" % me)
		return
	_move_elapsed += delta
	var k := clampf(_move_elapsed / MOVE_SECONDS, 0.0, 1.0)
	if k < 1.0:
		var wiggle := Vector2(sin(k * TAU * 2.0) * 40.0, 0)
		mine.position = Player.start_position(me).lerp(final_position(me), k) + wiggle
	else:
		mine.position = final_position(me)
		if not _bye_sent:
			_bye_sent = true
			main.chat.rpc(chat_lines(me)[1])

	if not _passed and _bye_sent and _missing().is_empty():
		_passed = true
		announce_done.rpc()
	if _passed and _done_from.size() >= main.options["players"] - 1:
		_finish(true, "")


## Ids of the other players whose markers exist here.
func _others() -> Array:
	var ids := []
	for player in main.players.get_children():
		if player.peer_id != main.net.my_id and not player.is_queued_for_deletion():
			ids.append(player.peer_id)
	ids.sort()
	return ids


## What is still missing for this bot's checks to pass, as readable items.
func _missing() -> PackedStringArray:
	var missing := PackedStringArray()
	if main.net.my_id <= 0:
		missing.append("not in lobby %s (is the host running?)" % main.options["lobby"])
	var others := _others()
	if others.size() < main.options["players"] - 1:
		missing.append("players: %d of %d connected" % [others.size() + 1, main.options["players"]])
	if _passed:
		missing.append("passes announced by %d of %d other bots" % [_done_from.size(), main.options["players"] - 1])
	for id in others:
		var got: Array = _chat.get(id, [])
		if got != chat_lines(id):
			missing.append("chat from %d (got %s)" % [id, got])
		var marker: Node2D = main.players.get_node("P%d" % id)
		if not marker.position.is_equal_approx(final_position(id)):
			missing.append("marker %d at %s, expected %s" % [id, marker.position, final_position(id)])
		if marker.distinct_positions < MIN_DISTINCT_POSITIONS:
			missing.append("marker %d moved through %d positions" % [id, marker.distinct_positions])
		if not main.rtt_ms.has(id):
			missing.append("rtt to %d" % id)
	return missing


func _on_chat(from_id: int, text: String) -> void:
	if from_id == main.net.my_id:
		return
	if not _chat.has(from_id):
		_chat[from_id] = []
	_chat[from_id].append(text)


@rpc("any_peer", "call_remote", "reliable")
func announce_done() -> void:
	_done_from[multiplayer.get_remote_sender_id()] = true


func _finish(ok: bool, reason: String) -> void:
	if _finished:
		return
	_finished = true
	_exit_code = 0 if ok else 1
	var me: int = main.net.my_id
	if ok:
		var rtts := PackedStringArray()
		var syncs := PackedStringArray()
		for id in _others():
			rtts.append("%d:%.1f" % [id, main.rtt_ms[id]])
			syncs.append("%d:%d" % [id, main.players.get_node("P%d" % id).syncs_received])
		print("BOT PASS peer=%d lobby=%s players=%d mesh=%s chat_lines=%d markers=%d syncs=%s rtt_ms=%s time=%.1fs" % [
			me, main.net.lobby, main.options["players"], main.net.mesh, 2 * _others().size(),
			_others().size(), ",".join(syncs), ",".join(rtts), _elapsed])
	else:
		print("BOT FAIL peer=%d lobby=%s: %s" % [me, main.net.lobby, reason])
	# Signaling is no longer needed; the WebRTC connections stay up while the last reliable
	# messages (announce_done, relayed ones) go out.
	main.net.ws.close()
	_quit_in = 1.0 if ok else 0.2
