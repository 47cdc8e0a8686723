## The node both SceneMultiplayer subtrees contain at the same relative path.
extends Node

var received: Array = []


@rpc("any_peer", "call_remote", "reliable")
func ping_reliable(value: Variant) -> void:
	received.append(["reliable", value, multiplayer.get_remote_sender_id()])


@rpc("any_peer", "call_remote", "unreliable_ordered")
func ping_unreliable_ordered(value: Variant) -> void:
	received.append(["unreliable_ordered", value, multiplayer.get_remote_sender_id()])


@rpc("any_peer", "call_remote", "unreliable")
func ping_unreliable(value: Variant) -> void:
	received.append(["unreliable", value, multiplayer.get_remote_sender_id()])
