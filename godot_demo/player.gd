## One player's marker. Its owner moves it; a MultiplayerSynchronizer replicates `position`
## to everyone else every frame over the unreliable channel (REPLICATION_MODE_ALWAYS).
extends Node2D

const SPEED := 240.0
const RADIUS := 18.0

var peer_id := 0
## True for the local player in interactive mode: arrow keys move it.
var manual := false
## Remote markers: how many sync packets arrived and how many distinct positions they carried.
var syncs_received := 0
var distinct_positions := 0
var _last_position := Vector2.INF


## Called on every peer with the same id, before the marker enters the tree.
func setup(id: int) -> void:
	peer_id = id
	name = "P%d" % id
	position = start_position(id)
	var config := SceneReplicationConfig.new()
	var path := NodePath(".:position")
	config.add_property(path)
	config.property_set_replication_mode(path, SceneReplicationConfig.REPLICATION_MODE_ALWAYS)
	var sync := MultiplayerSynchronizer.new()
	sync.name = "Sync"
	sync.root_path = NodePath("..")
	sync.replication_config = config
	sync.synchronized.connect(_on_synchronized)
	add_child(sync)
	set_multiplayer_authority(id)


static func start_position(id: int) -> Vector2:
	return Vector2(380 + 90 * ((id - 1) % 7), 120)


func _process(delta: float) -> void:
	if manual and is_multiplayer_authority():
		var direction := Input.get_vector("ui_left", "ui_right", "ui_up", "ui_down")
		position = (position + direction * SPEED * delta).clamp(Vector2(360, 20), Vector2(1004, 580))
	queue_redraw()


func _on_synchronized() -> void:
	syncs_received += 1
	if position != _last_position:
		_last_position = position
		distinct_positions += 1


func _draw() -> void:
	var color := Color.from_hsv(fmod(peer_id * 0.17, 1.0), 0.7, 0.95)
	draw_circle(Vector2.ZERO, RADIUS, color)
	if is_multiplayer_authority():
		draw_arc(Vector2.ZERO, RADIUS + 4, 0, TAU, 32, Color.WHITE, 2)
	draw_string(ThemeDB.fallback_font, Vector2(-6, 6), str(peer_id), HORIZONTAL_ALIGNMENT_LEFT, -1, 16, Color.BLACK)
