# attack: carry a scrubbed error's text in a new exception with notes and a cause, to check nothing is un-scrubbed on the way out
# held: no secret in the traceback, the message or the notes
# expect: error RuntimeError
try:
    tools.api.fail(pad=470)
except ToolError as e:
    err = RuntimeError(str(e))
    err.add_note(repr(e))
    raise err from e
