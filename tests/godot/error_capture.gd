## Captures error messages pushed while checks run (Godot 4.5+ `Logger`), so a check can assert
## that a failure was reported with a message naming its cause.
extends Logger

var _mutex := Mutex.new()
var _errors: PackedStringArray = []


func _log_error(_function: String, _file: String, _line: int, code: String, rationale: String,
		_editor_notify: bool, _error_type: int, _script_backtraces: Array) -> void:
	_mutex.lock()
	_errors.append(code + " " + rationale)
	_mutex.unlock()


func _log_message(_message: String, _error: bool) -> void:
	pass


## Returns and forgets what was captured so far.
func take() -> PackedStringArray:
	_mutex.lock()
	var out := _errors
	_errors = []
	_mutex.unlock()
	return out
