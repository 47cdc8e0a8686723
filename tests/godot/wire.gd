## Connects two WebRTCPeerConnections in the same process: each one's descriptions and
## candidates are handed to the other, as a signaling server would. Holds the connections
## strongly; the signal connections point at this object's methods (no reference cycle).
extends RefCounted

var a: WebRTCPeerConnection
var b: WebRTCPeerConnection


func _init(first: WebRTCPeerConnection, second: WebRTCPeerConnection) -> void:
	a = first
	b = second
	a.session_description_created.connect(_on_a_description)
	b.session_description_created.connect(_on_b_description)
	a.ice_candidate_created.connect(_on_a_candidate)
	b.ice_candidate_created.connect(_on_b_candidate)


func _on_a_description(type: String, sdp: String) -> void:
	a.set_local_description(type, sdp)
	b.set_remote_description(type, sdp)


func _on_b_description(type: String, sdp: String) -> void:
	b.set_local_description(type, sdp)
	a.set_remote_description(type, sdp)


func _on_a_candidate(media: String, index: int, name: String) -> void:
	b.add_ice_candidate(media, index, name)


func _on_b_candidate(media: String, index: int, name: String) -> void:
	a.add_ice_candidate(media, index, name)


func poll() -> void:
	if a != null:
		a.poll()
	if b != null:
		b.poll()
